package handlers

import (
	"context"
	"errors"
	"net/http"

	"github.com/payscore-console/payscore-console/payscore"
	"github.com/payscore-console/payscore-console/views"
)

// upstreamTexts are the catalog keys a screen explains the failures WeChat
// Pay's own words do not cover with (a forged answer, no answer).
type upstreamTexts struct {
	badSignature, badSignatureDo string
	network, timeout, retry      string
	// malformed explains any other failure; "" means such a failure is not
	// WeChat Pay's to explain (an internal error).
	malformed string
}

var (
	// linkTexts: issuing and renewing links, where the form keeps the code
	// to try again with.
	linkTexts = upstreamTexts{badSignature: "links.err.badsignature", badSignatureDo: "links.err.badsignature.do",
		network: "links.err.transport", timeout: "links.err.timeout", retry: "links.err.transport.do"}
	// supportTexts: look-up and termination.
	supportTexts = upstreamTexts{badSignature: "support.err.badsig", badSignatureDo: "support.err.badsig.remedy",
		network: "support.err.network", timeout: "support.err.timeout", retry: "support.err.remedy.retry",
		malformed: "support.err.malformed"}
)

// upstreamView explains a failed WeChat Pay call (payscore.Classify) for
// every screen through the one view model; WeChat Pay's error codes are
// explained as instructions for this console's users (views.UpstreamAnswer). ok is false for failures that are not WeChat
// Pay's to explain (refused here before sending, internal) when texts has
// no catch-all.
func upstreamView(ctx context.Context, err error, texts upstreamTexts) (v *views.UpstreamError, ok bool) {
	f := payscore.Classify(err)
	switch {
	case f.Kind == payscore.FailureForged:
		// Checked first: such an answer is never believed, whatever it says.
		return &views.UpstreamError{Explanation: views.T(ctx, texts.badSignature), Remedy: views.T(ctx, texts.badSignatureDo)}, true
	case f.Answered():
		return views.UpstreamAnswer(ctx, f.Status, f.NormalizedCode(), f.Code, f.Message, f.RequestID, !f.Signed), true
	case f.Kind == payscore.FailureUnknown && isTransport(err):
		key := texts.network
		if f.Timeout {
			key = texts.timeout
		}
		return &views.UpstreamError{Explanation: views.T(ctx, key), Remedy: views.T(ctx, texts.retry)}, true
	case texts.malformed != "":
		return &views.UpstreamError{Explanation: views.T(ctx, texts.malformed), Remedy: views.T(ctx, texts.retry)}, true
	}
	return nil, false
}

// upstreamStatus is the status a page about a failed call answers with:
// 404 for ORDER_NOT_EXIST, 409 for an authorization whose state does not
// allow the call, 502 otherwise.
func upstreamStatus(err error) int {
	f := payscore.Classify(err)
	if f.Kind == payscore.FailureForged || !f.Answered() {
		return http.StatusBadGateway
	}
	switch f.NormalizedCode() {
	case payscore.CodeOrderNotExist:
		return http.StatusNotFound
	case payscore.CodeInvalidOrderState, payscore.CodeOrderCanceled, payscore.CodeOrderDone:
		return http.StatusConflict
	}
	return http.StatusBadGateway
}

// upstreamFailure is the support screens' view of a failed call and the
// status to answer with.
func upstreamFailure(ctx context.Context, err error) (*views.UpstreamError, int) {
	v, _ := upstreamView(ctx, err, supportTexts)
	return v, upstreamStatus(err)
}

func isTransport(err error) bool {
	var te *payscore.TransportError
	return errors.As(err, &te)
}
