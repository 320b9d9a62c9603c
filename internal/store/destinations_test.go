package store

import (
	"errors"
	"sync"
	"testing"

	"github.com/herald-ci/herald/internal/store/storetest"
)

// TestStoredDestinations: create, replace, override and delete records;
// every write bumps the version once; a write at a stale version changes
// nothing; everything survives closing and reopening the database.
func TestStoredDestinations(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, d storetest.Driver) {
		cfg := driverConfig(t, d)
		s := openStore(t, cfg, nil)
		ctx := t.Context()

		set, err := s.StoredDestinations(ctx)
		if err != nil || set.Version != 0 || len(set.Destinations) != 0 {
			t.Fatalf("new database: %+v, %v; want version 0 and nothing", set, err)
		}
		spec := `{"name":"ops","type":"webhook","url":"https://example.com/hooks/SECRET"}`
		v, err := s.PutDestination(ctx, DestinationRecord{Name: "ops", Origin: OriginAPI, Spec: []byte(spec), Enabled: true}, 0)
		if err != nil || v != 1 {
			t.Fatalf("create: %d, %v; want version 1", v, err)
		}
		// The file's destination "builds", disabled.
		if v, err = s.PutDestination(ctx, DestinationRecord{Name: "builds", Origin: OriginConfig}, 1); err != nil || v != 2 {
			t.Fatalf("override: %d, %v; want version 2", v, err)
		}
		// A stale version writes nothing.
		if _, err := s.PutDestination(ctx, DestinationRecord{Name: "late", Origin: OriginAPI, Spec: []byte(`{}`)}, 1); !errors.Is(err, ErrDestinationsChanged) {
			t.Errorf("put at a stale version: %v, want ErrDestinationsChanged", err)
		}
		if _, err := s.DeleteDestination(ctx, "ops", 0); !errors.Is(err, ErrDestinationsChanged) {
			t.Errorf("delete at a stale version: %v, want ErrDestinationsChanged", err)
		}
		if _, err := s.DeleteDestination(ctx, "nobody", 2); !errors.Is(err, ErrDestinationNotFound) {
			t.Errorf("delete of no record: %v, want ErrDestinationNotFound", err)
		}
		if v, err := s.DestinationsVersion(ctx); err != nil || v != 2 {
			t.Errorf("version after refused writes: %d, %v; want 2", v, err)
		}

		// Replace: disable ops and change its spec.
		spec2 := `{"events":["build.failed"],"name":"ops","type":"webhook","url":"https://example.com/hooks/SECRET"}`
		if v, err = s.PutDestination(ctx, DestinationRecord{Name: "ops", Origin: OriginAPI, Spec: []byte(spec2)}, 2); err != nil || v != 3 {
			t.Fatalf("replace: %d, %v; want version 3", v, err)
		}
		check := func(s *Store, when string) {
			t.Helper()
			set, err := s.StoredDestinations(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if set.Version != 3 || len(set.Destinations) != 2 {
				t.Fatalf("%s: %+v; want version 3 and two records", when, set)
			}
			b, ok := set.Find("builds")
			if !ok || b.Origin != OriginConfig || b.Enabled || b.Spec != nil || b.UpdatedAt.IsZero() {
				t.Errorf("%s: builds = %+v, %v; want a disabled config override without spec", when, b, ok)
			}
			o, ok := set.Find("ops")
			if !ok || o.Origin != OriginAPI || o.Enabled || string(o.Spec) != spec2 {
				t.Errorf("%s: ops = %+v, %v; want the replaced, disabled api record", when, o, ok)
			}
			if set.Destinations[0].Name != "builds" {
				t.Errorf("%s: records not in name order: %+v", when, set.Destinations)
			}
		}
		check(s, "after writes")
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		// Read before opening, as serve does, then open again.
		pre, err := ReadDestinations(ctx, cfg)
		if err != nil || pre.Version != 3 || len(pre.Destinations) != 2 {
			t.Fatalf("ReadDestinations: %+v, %v", pre, err)
		}
		s2 := openStore(t, cfg, nil)
		check(s2, "after reopening")

		if v, err = s2.DeleteDestination(ctx, "ops", 3); err != nil || v != 4 {
			t.Fatalf("delete: %d, %v; want version 4", v, err)
		}
		if set, _ := s2.StoredDestinations(ctx); len(set.Destinations) != 1 || set.Version != 4 {
			t.Errorf("after delete: %+v", set)
		}
		if _, err := s2.PutDestination(ctx, DestinationRecord{Name: "x", Origin: "file"}, 4); err == nil {
			t.Error("an unknown origin was stored")
		}
	})
}

// TestStoredDestinationsConcurrentWriters: writers that read the same
// version race; exactly one wins, the others are told to read again.
func TestStoredDestinationsConcurrentWriters(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, d storetest.Driver) {
		s := openStore(t, driverConfig(t, d), nil)
		const n = 6
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				_, errs[i] = s.PutDestination(t.Context(), DestinationRecord{
					Name: "w" + string(rune('a'+i)), Origin: OriginAPI, Spec: []byte(`{}`), Enabled: true,
				}, 0)
			})
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, ErrDestinationsChanged):
				t.Errorf("writer: %v", err)
			}
		}
		set, err := s.StoredDestinations(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if won != 1 || set.Version != 1 || len(set.Destinations) != 1 {
			t.Errorf("%d writers won, version %d, %d records; want exactly one of each", won, set.Version, len(set.Destinations))
		}
	})
}
