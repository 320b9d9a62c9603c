package appcenter_test

import (
	"testing"

	"github.com/herald-ci/herald/sources/appcenter"
	"github.com/herald-ci/herald/sources/internal/decodetest"
)

// BenchmarkDecode decodes each appcenter fixture of sources/sourcestest, one
// sub-benchmark per fixture.
func BenchmarkDecode(b *testing.B) {
	decodetest.BenchDecode(b, appcenter.Decoder{}, appcenter.Name)
}
