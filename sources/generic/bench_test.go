package generic_test

import (
	"testing"

	"github.com/herald-ci/herald/sources/generic"
	"github.com/herald-ci/herald/sources/internal/decodetest"
)

// BenchmarkDecode decodes each generic fixture of sources/sourcestest, one
// sub-benchmark per fixture.
func BenchmarkDecode(b *testing.B) {
	decodetest.BenchDecode(b, generic.Decoder{}, generic.Name)
}
