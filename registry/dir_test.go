package registry_test

import (
	"testing"

	"github.com/faultline-dev/faultline/registry"
	"github.com/faultline-dev/faultline/registry/registrytest"
)

func TestDirConformance(t *testing.T) {
	registrytest.Run(t, func(t *testing.T) registry.Backend {
		d, err := registry.OpenDir(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}
