package extract

import (
	"strconv"

	"github.com/faultline-dev/faultline/features"
)

func fmtInt(i int) string { return strconv.Itoa(i) }

func testConfigDefaults() features.Config { return features.DefaultConfig() }
