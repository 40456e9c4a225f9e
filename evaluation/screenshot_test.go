package evaluation

import (
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestScreenshot renders the fixture's report with headless Chromium
// (scripts/screenshot.sh) and checks that the page drew something: a PNG of
// the requested size whose top holds dark (text) and coloured (chart or
// banner) pixels. Skipped with -short or without chromium.
func TestScreenshot(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	if _, err := exec.LookPath("chromium"); err != nil {
		t.Skip("no chromium (apt-get install chromium)")
	}
	rep, dir := runFixture(t, true)
	out, err := rep.Write(filepath.Join(dir, "evaluation"))
	if err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, "report.png")
	cmd := exec.Command("bash", filepath.Join("..", "scripts", "screenshot.sh"), out["report.html"], shot, "1200x900")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("screenshot.sh: %v\n%s", err, b)
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 1200 || b.Dy() != 900 {
		t.Fatalf("screenshot %v, want 1200x900", b)
	}
	dark, colour := 0, 0
	for y := 0; y < 300; y++ {
		for x := 0; x < 1200; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			r, g, b = r>>8, g>>8, b>>8
			if r < 80 && g < 80 && b < 80 {
				dark++
			}
			if max(r, g, b)-min(r, g, b) > 60 {
				colour++
			}
		}
	}
	if dark < 500 || colour < 100 {
		t.Errorf("top of the page: %d dark and %d coloured pixels; the report did not render", dark, colour)
	}
}
