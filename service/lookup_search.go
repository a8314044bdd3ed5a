package service

import (
	"context"
	"strings"

	"github.com/payscore-console/payscore-console/payscore"
	"github.com/payscore-console/payscore-console/store"
)

// SearchStore is what searching authorizations needs from the database.
type SearchStore interface {
	SearchAuthorizations(ctx context.Context, f store.AuthorizationSearch) ([]store.AuthorizationRow, error)
	CodesFoldingCase(ctx context.Context, code string, limit int) ([]string, error)
	SubMerchants(ctx context.Context) ([]store.SubMerchant, error)
}

// SearchLimit bounds a search's list.
const SearchLimit = 100

// What a search matched.
const (
	SearchByCode        = "authorization_code"
	SearchByOpenID      = "openid"
	SearchBySubMerchant = "sub_mchid"
)

// SearchResult is what a search found.
type SearchResult struct {
	// By is what matched: SearchByCode (Code is set), SearchByOpenID or
	// SearchBySubMerchant (Matches lists them); "" when nothing did.
	By string
	// Code is the authorization code to show: one known here, or, when
	// nothing matched and the text is a valid code, the text itself (to be
	// asked of WeChat Pay with a sub-merchant).
	Code string
	// Known: Code is known locally (a link or a tracked state).
	Known   bool
	Matches []store.AuthorizationRow
	// SubMerchant is the sub-merchant searched for (SearchBySubMerchant).
	SubMerchant *store.SubMerchant
	// DidYouMean lists known codes that differ from the text only in case.
	DidYouMean []string
	// More: the list was cut at SearchLimit.
	More bool
}

// Search finds authorizations by what support is given: an
// authorization_code (matched exactly, case included), a user's openid or
// sub_openid, or a sub-merchant (its sub_mchid or its exact name). A code
// known here wins; then a sub-merchant; then a user. When none matches,
// codes differing only in case are offered, and a text that is a valid
// code is returned as Code for a live query.
func (s *Lookup) Search(ctx context.Context, q string) (SearchResult, error) {
	var out SearchResult
	q = strings.TrimSpace(q)
	if q == "" {
		return out, nil
	}
	validCode := payscore.ValidateAuthorizationCode(q) == nil
	if validCode {
		sub, err := s.KnownSubMchID(ctx, q)
		if err != nil {
			return out, err
		}
		if sub != "" {
			out.By, out.Code, out.Known = SearchByCode, q, true
			return out, nil
		}
	}
	subs, err := s.Store.SubMerchants(ctx)
	if err != nil {
		return out, err
	}
	for i := range subs {
		if subs[i].SubMchID == q || subs[i].Name == q {
			out.SubMerchant = &subs[i]
			break
		}
	}
	if out.SubMerchant != nil {
		out.By = SearchBySubMerchant
		out.Matches, err = s.Store.SearchAuthorizations(ctx, store.AuthorizationSearch{SubMchID: out.SubMerchant.SubMchID, Limit: SearchLimit + 1})
		out.More = len(out.Matches) > SearchLimit
		out.Matches = out.Matches[:min(len(out.Matches), SearchLimit)]
		return out, err
	}
	matches, err := s.Store.SearchAuthorizations(ctx, store.AuthorizationSearch{OpenID: q, Limit: SearchLimit + 1})
	if err != nil {
		return out, err
	}
	if len(matches) > 0 {
		out.By, out.Matches = SearchByOpenID, matches[:min(len(matches), SearchLimit)]
		out.More = len(matches) > SearchLimit
		return out, nil
	}
	if validCode {
		if out.DidYouMean, err = s.CaseVariants(ctx, q); err != nil {
			return out, err
		}
		out.By, out.Code = SearchByCode, q
	}
	return out, nil
}

// CaseVariants lists the codes known here that differ from code only in
// the case of letters (at most 5).
func (s *Lookup) CaseVariants(ctx context.Context, code string) ([]string, error) {
	return s.Store.CodesFoldingCase(ctx, code, 5)
}
