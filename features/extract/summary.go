package extract

import "encoding/json"

// ParseSummary decodes the contents of an extract.json. It checks nothing
// beyond the JSON: ReadSummary also requires a schema_version, and the
// registry compares the schema and settings hashes with its own.
func ParseSummary(data []byte) (*Summary, error) {
	var s Summary
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, err
	}
	return &s, nil
}
