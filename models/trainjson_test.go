package models

import (
	"reflect"
	"strings"
	"testing"
)

func TestReadThresholds(t *testing.T) {
	tests := []struct {
		name    string
		json    string
		want    map[int]float64
		wantErr string
	}{
		{"policy", `{"policy":{"horizons":[10,60],"thresholds":[0.9,0.5]}}`, map[int]float64{10: 0.9, 60: 0.5}, ""},
		{"map keys", `{"thresholds":{"10":0.7,"h20":0.6,"60m":0.4,"x":1}}`, map[int]float64{10: 0.7, 20: 0.6, 60: 0.4}, ""},
		{"policy wins", `{"thresholds":{"10":0.1,"20":0.2},"policy":{"horizons":[10],"thresholds":[0.9]}}`, map[int]float64{10: 0.9, 20: 0.2}, ""},
		{"null policy", `{"thresholds":{"10":0.3},"policy":null}`, map[int]float64{10: 0.3}, ""},
		{"none", `{"label_source":"weak"}`, map[int]float64{}, ""},
		{"mismatch", `{"policy":{"horizons":[10,20],"thresholds":[0.9]}}`, nil, "2 horizons and 1 thresholds"},
		{"not json", `{`, nil, "unexpected end"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadThresholds([]byte(tt.json))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
