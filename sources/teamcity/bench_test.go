package teamcity_test

import (
	"testing"

	"github.com/herald-ci/herald/sources/internal/decodetest"
	"github.com/herald-ci/herald/sources/teamcity"
)

// BenchmarkDecode decodes each teamcity fixture of sources/sourcestest, one
// sub-benchmark per fixture.
func BenchmarkDecode(b *testing.B) {
	decodetest.BenchDecode(b, teamcity.Decoder{}, teamcity.Name)
}
