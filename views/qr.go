package views

import (
	"bytes"
	"image"
	"image/color"
	"image/png"

	qrcode "github.com/skip2/go-qrcode"
)

// qrSize is the QR image's width in pixels: about 4.3 cm at 300 dpi, enough
// for a phone to scan from a printed sheet.
const qrSize = 512

// QRPNG draws content as a print-ready QR code: medium error correction
// (a smudged print still scans), the library's standard 4-module quiet
// zone, every module the same whole number of pixels (the library's own
// scaling to an arbitrary size makes modules of uneven width), centred on a
// white square of qrSize pixels.
func QRPNG(content string) ([]byte, error) {
	q, err := qrcode.New(content, qrcode.Medium)
	if err != nil {
		return nil, err
	}
	bm := q.Bitmap() // modules, quiet zone included
	n := len(bm)
	scale := max(qrSize/n, 1)
	size := max(qrSize, n*scale)
	off := (size - n*scale) / 2
	img := image.NewPaletted(image.Rect(0, 0, size, size), color.Palette{color.White, color.Black})
	for y, row := range bm {
		for x, dark := range row {
			if !dark {
				continue
			}
			for py := off + y*scale; py < off+(y+1)*scale; py++ {
				for px := off + x*scale; px < off+(x+1)*scale; px++ {
					img.SetColorIndex(px, py, 1)
				}
			}
		}
	}
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
