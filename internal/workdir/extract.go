package workdir

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
)

// HorizonCount counts the rows of one features_hH.parquet.
type HorizonCount struct {
	Horizon int    `json:"horizon"`
	File    string `json:"file"`
	Rows    int64  `json:"rows"`
	// Skipped counts deployments with fewer than H minutes of data after
	// their start (the environment's history ends too soon).
	Skipped int64 `json:"skipped"`
}

// Extract is extract.json: what the extract stage did.
type Extract struct {
	SchemaVersion string `json:"schema_version"`
	SchemaHash    string `json:"schema_hash"`
	ConfigHash    string `json:"config_hash"`
	Features      int    `json:"features"`
	From          string `json:"from,omitempty"`
	Until         string `json:"until,omitempty"`
	Shard         string `json:"shard,omitempty"`
	Deployments   int64  `json:"deployments"`
	Streams       int    `json:"streams_read"`
	// ShardStreams is written by a shard only (Shard set): the streams it
	// read per environment. Every shard that extracts deploys of an
	// environment reads all its streams, so a merge of the shards counts
	// the streams an unsharded run reads (Streams) from these maps and
	// writes the unsharded file, without this field.
	ShardStreams map[string]int `json:"shard_streams,omitempty"`
	Horizons     []HorizonCount `json:"horizons"`
	Files        []string       `json:"files"`
}

// WriteExtract writes extract.json at path, atomically.
func WriteExtract(path string, e *Extract) error {
	return writeJSON(path, e)
}

// ReadExtract reads extract.json at path (ParseExtract). A missing file
// gives an error wrapping fs.ErrNotExist.
func ReadExtract(path string) (*Extract, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read extract summary: %w", err)
	}
	e, err := ParseExtract(b)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return e, nil
}

// ParseExtract decodes the contents of an extract.json, for readers that
// keep or hash the bytes. A file without schema_version is an error; the
// caller names the file.
func ParseExtract(data []byte) (*Extract, error) {
	var e Extract
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, err
	}
	if e.SchemaVersion == "" {
		return nil, errors.New("no schema_version")
	}
	return &e, nil
}
