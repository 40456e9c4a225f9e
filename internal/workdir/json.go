package workdir

import (
	"encoding/json"
	"io"

	"github.com/faultline-dev/faultline/internal/atomicfile"
)

// writeJSON writes v as JSON indented by two spaces, with a final newline,
// atomically.
func writeJSON(path string, v any) error {
	return atomicfile.Write(path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	})
}
