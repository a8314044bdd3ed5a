package views

import (
	"bytes"
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"strings"
	"sync"

	qrcode "github.com/skip2/go-qrcode"
	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
)

// droidSansFallback is Droid Sans Fallback (Apache License 2.0, see
// fonts/README.md): the whole font, about 3.4 MB, so that any sub-merchant
// name in Chinese draws, and the binary needs no system font.
//
//go:embed fonts/DroidSansFallback.ttf
var droidSansFallback []byte

// PosterCaption is what the poster tells the end user to do.
const PosterCaption = "微信扫一扫 开启微信支付分"

// Poster sizes at 300 dpi: A6 (105 × 148 mm) and A5 (148 × 210 mm).
const (
	PosterA6 = "a6"
	PosterA5 = "a5"
	// posterDPI is the print resolution, written into the PNG (pHYs).
	posterDPI = 300
)

// PosterInput is what a poster shows.
type PosterInput struct {
	MerchantName string
	URL          string // the landing URL the QR code encodes
	ShortID      string // e.g. "#42": which link, for whoever handles the sheet
	Size         string // PosterA6 (default) or PosterA5
}

// PosterText is the text drawn on a poster, as recorded in its PNG's text
// chunks (iTXt, UTF-8: tEXt cannot hold Chinese): keyword → value.
func PosterText(in PosterInput) map[string]string {
	return map[string]string{
		"Title":       in.MerchantName,
		"Description": PosterCaption,
		"Short ID":    in.ShortID,
		"URL":         in.URL,
	}
}

// posterKeys orders the text chunks.
var posterKeys = []string{"Title", "Description", "Short ID", "URL"}

// posterPixels is a size's width and height in pixels at 300 dpi.
func posterPixels(size string) (int, int, error) {
	switch size {
	case "", PosterA6:
		return 1240, 1748, nil // 105 × 148 mm
	case PosterA5:
		return 1748, 2480, nil // 148 × 210 mm
	}
	return 0, 0, fmt.Errorf("views: poster size %q: want a6 or a5", size)
}

var (
	posterFonts     [2]*opentype.Font // CJK, then Latin for what it lacks
	posterFontsErr  error
	posterFontsOnce sync.Once
)

func loadPosterFonts() error {
	posterFontsOnce.Do(func() {
		if posterFonts[0], posterFontsErr = opentype.Parse(droidSansFallback); posterFontsErr != nil {
			return
		}
		posterFonts[1], posterFontsErr = opentype.Parse(goregular.TTF)
	})
	return posterFontsErr
}

// green is WeChat Pay's green.
var green = color.RGBA{0x07, 0xc1, 0x60, 0xff}

// PosterPNG draws a printable poster: the sub-merchant's name, the QR code
// of the landing URL, the caption and the link's short id, at 300 dpi. The
// text drawn is also written into the PNG as iTXt chunks (PosterText).
func PosterPNG(in PosterInput) ([]byte, error) {
	w, h, err := posterPixels(in.Size)
	if err != nil {
		return nil, err
	}
	if err := loadPosterFonts(); err != nil {
		return nil, fmt.Errorf("views: poster font: %w", err)
	}
	k := float64(w) / 1240 // everything scales with the sheet
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	// A green band on top, the brand in it.
	band := int(150 * k)
	draw.Draw(img, image.Rect(0, 0, w, band), image.NewUniform(green), image.Point{}, draw.Src)
	if err := drawCentered(img, "微信支付分", 64*k, image.White, band/2+int(22*k), w-int(120*k)); err != nil {
		return nil, err
	}
	// The merchant's name, shrunk to fit.
	name := strings.TrimSpace(in.MerchantName)
	if err := drawCentered(img, name, 84*k, color.Black, band+int(150*k), w-int(160*k)); err != nil {
		return nil, err
	}
	// The QR code, whole modules, medium error correction, quiet zone kept.
	q, err := qrcode.New(in.URL, qrcode.Medium)
	if err != nil {
		return nil, fmt.Errorf("views: poster qr: %w", err)
	}
	bm := q.Bitmap()
	n := len(bm)
	scale := max(int(900*k)/n, 1)
	side := n * scale
	x0, y0 := (w-side)/2, band+int(230*k)
	for y, row := range bm {
		for x, dark := range row {
			if dark {
				draw.Draw(img, image.Rect(x0+x*scale, y0+y*scale, x0+(x+1)*scale, y0+(y+1)*scale), image.Black, image.Point{}, draw.Src)
			}
		}
	}
	capY := y0 + side + int(110*k)
	if err := drawCentered(img, PosterCaption, 68*k, color.Black, capY, w-int(120*k)); err != nil {
		return nil, err
	}
	if err := drawCentered(img, in.ShortID, 36*k, color.Gray{0x80}, h-int(70*k), w-int(120*k)); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	text := PosterText(in)
	chunks := [][]byte{pngChunk("pHYs", physData(posterDPI))}
	for _, key := range posterKeys {
		chunks = append(chunks, pngChunk("iTXt", itxtData(key, text[key])))
	}
	return insertAfterIHDR(buf.Bytes(), chunks)
}

// drawCentered draws s centred on the baseline y, in the largest size up
// to px that fits maxWidth (down to half of px; beyond that it is cut with
// "…"). A rune the CJK font lacks is drawn from the Latin one.
func drawCentered(img *image.RGBA, s string, px float64, c color.Color, y, maxWidth int) error {
	if s == "" {
		return nil
	}
	faces, err := posterFaces(px)
	if err != nil {
		return err
	}
	for size := px; measure(faces, s) > maxWidth; {
		if size *= 0.9; size < px/2 {
			for measure(faces, s+"…") > maxWidth && len([]rune(s)) > 1 {
				r := []rune(s)
				s = string(r[:len(r)-1])
			}
			s += "…"
			break
		}
		if faces, err = posterFaces(size); err != nil {
			return err
		}
	}
	x := (img.Bounds().Dx() - measure(faces, s)) / 2
	dot := fixed.P(x, y)
	for _, r := range s {
		f := faceFor(faces, r)
		d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: f, Dot: dot}
		d.DrawString(string(r))
		dot = d.Dot
	}
	return nil
}

// posterFaces are the two fonts at px pixels (300 dpi: px is in pixels).
func posterFaces(px float64) ([2]font.Face, error) {
	var out [2]font.Face
	for i, f := range posterFonts {
		face, err := opentype.NewFace(f, &opentype.FaceOptions{Size: px, DPI: 72, Hinting: font.HintingFull})
		if err != nil {
			return out, err
		}
		out[i] = face
	}
	return out, nil
}

func faceFor(faces [2]font.Face, r rune) font.Face {
	if _, ok := faces[0].GlyphAdvance(r); ok && r > 0x7f {
		return faces[0]
	}
	if _, ok := faces[1].GlyphAdvance(r); ok {
		return faces[1]
	}
	return faces[0]
}

func measure(faces [2]font.Face, s string) int {
	var w fixed.Int26_6
	for _, r := range s {
		a, _ := faceFor(faces, r).GlyphAdvance(r)
		w += a
	}
	return w.Ceil()
}

// pngChunk frames data as a PNG chunk: length, type, data, CRC.
func pngChunk(typ string, data []byte) []byte {
	b := make([]byte, 8, 12+len(data))
	binary.BigEndian.PutUint32(b, uint32(len(data)))
	copy(b[4:], typ)
	b = append(b, data...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b[4:]))
}

// physData is a pHYs chunk's data: dpi in pixels per metre, both axes.
func physData(dpi int) []byte {
	ppm := uint32(float64(dpi)/0.0254 + 0.5)
	b := binary.BigEndian.AppendUint32(nil, ppm)
	b = binary.BigEndian.AppendUint32(b, ppm)
	return append(b, 1) // unit: metre
}

// itxtData is an uncompressed iTXt chunk's data: keyword, no language tag.
func itxtData(key, text string) []byte {
	b := append([]byte(key), 0, 0, 0) // NUL, compression flag, method
	b = append(b, 0, 0)               // empty language tag, translated keyword
	return append(b, text...)
}

// insertAfterIHDR puts chunks right after the PNG's header chunk.
func insertAfterIHDR(p []byte, chunks [][]byte) ([]byte, error) {
	const sig = 8
	if len(p) < sig+8 || string(p[sig+4:sig+8]) != "IHDR" {
		return nil, errors.New("views: not a PNG")
	}
	end := sig + 12 + int(binary.BigEndian.Uint32(p[sig:]))
	out := append([]byte{}, p[:end]...)
	for _, c := range chunks {
		out = append(out, c...)
	}
	return append(out, p[end:]...), nil
}

// PNGText reads a PNG's tEXt and iTXt chunks (uncompressed iTXt only):
// keyword → text. Tests and tools use it to read what a poster says.
func PNGText(p []byte) (map[string]string, error) {
	if len(p) < 8 || string(p[1:4]) != "PNG" {
		return nil, errors.New("views: not a PNG")
	}
	out := map[string]string{}
	for i := 8; i+12 <= len(p); {
		n := int(binary.BigEndian.Uint32(p[i:]))
		if i+12+n > len(p) {
			return nil, errors.New("views: truncated PNG chunk")
		}
		typ, data := string(p[i+4:i+8]), p[i+8:i+8+n]
		switch typ {
		case "tEXt":
			if k, v, ok := bytes.Cut(data, []byte{0}); ok {
				out[string(k)] = string(v)
			}
		case "iTXt":
			k, rest, ok := bytes.Cut(data, []byte{0})
			if ok && len(rest) >= 2 && rest[0] == 0 {
				rest = rest[2:]
				if _, rest, ok = bytes.Cut(rest, []byte{0}); ok { // language tag
					if _, v, ok := bytes.Cut(rest, []byte{0}); ok { // translated keyword
						out[string(k)] = string(v)
					}
				}
			}
		}
		i += 12 + n
	}
	return out, nil
}
