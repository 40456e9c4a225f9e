package workdir

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
)

// Checksum returns the SHA-256 (hex) and size of the file at path: the
// lineage hash of a work-directory file, as train.json's inputs_sha256, the
// evaluation's lineage and the run records give it. Errors opening the file
// are returned unwrapped, so that a missing file satisfies
// errors.Is(err, fs.ErrNotExist).
func Checksum(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("checksum %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
