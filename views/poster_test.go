package views

import (
	"bytes"
	"image"
	"image/png"
	"testing"

	"github.com/makiuchi-d/gozxing"
	zxingqr "github.com/makiuchi-d/gozxing/qrcode"
)

// TestPosterPNG: A6 and A5 at 300 dpi, the QR code decodes to the landing
// URL, and the text drawn is in the PNG's text chunks.
func TestPosterPNG(t *testing.T) {
	in := PosterInput{MerchantName: "示例便利店（沙箱）", URL: "https://console.example/h5/AbCdEfGhIjKlMnOpQrStUvWx", ShortID: "#42"}
	for _, tt := range []struct {
		name, size string
		w, h       int
	}{{"OKA6", "", 1240, 1748}, {"OKA5", PosterA5, 1748, 2480}} {
		t.Run(tt.name, func(t *testing.T) {
			in.Size = tt.size
			b, err := PosterPNG(in)
			if err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if got := img.Bounds().Size(); got != (image.Point{tt.w, tt.h}) {
				t.Errorf("size = %v, want %dx%d", got, tt.w, tt.h)
			}
			bmp, err := gozxing.NewBinaryBitmapFromImage(img)
			if err != nil {
				t.Fatal(err)
			}
			res, err := zxingqr.NewQRCodeReader().Decode(bmp, nil)
			if err != nil {
				t.Fatalf("QR code not found: %v", err)
			}
			if got, want := res.GetText(), in.URL; got != want {
				t.Errorf("QR = %q, want %q", got, want)
			}
			text, err := PNGText(b)
			if err != nil {
				t.Fatal(err)
			}
			for k, want := range map[string]string{"Title": in.MerchantName, "Description": PosterCaption, "Short ID": "#42", "URL": in.URL} {
				if got := text[k]; got != want {
					t.Errorf("text %q = %q, want %q", k, got, want)
				}
			}
			if !bytes.Contains(b, []byte("pHYs")) {
				t.Error("no pHYs chunk: the print resolution is not recorded")
			}
		})
	}
	t.Run("ErrSize", func(t *testing.T) {
		in.Size = "a4"
		if _, err := PosterPNG(in); err == nil {
			t.Error("a4 accepted")
		}
	})
	t.Run("OKLongNameFits", func(t *testing.T) {
		in.Size = ""
		in.MerchantName = "一个名字非常非常非常非常非常非常非常非常非常非常非常非常长的示例商户有限责任公司第一分店"
		if _, err := PosterPNG(in); err != nil {
			t.Fatal(err)
		}
	})
}
