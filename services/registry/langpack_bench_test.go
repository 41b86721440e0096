package registry_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	registryv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/registry/v1"
	"github.com/clickstream-dev/clickstream/internal/server"
	"github.com/clickstream-dev/clickstream/services/registry"
	"github.com/clickstream-dev/clickstream/services/registry/langpack"
)

// BenchmarkLangpackDelivery1000 measures langpack delivery for an
// environment allowed all 1,000 versions of the synthetic catalogue, per
// language: "new-version" is a latest request right after an access change
// (compare the API surface, store the new version, generate, pack and
// store the language's pack; a line makes at most one new minor or major
// version a second, so this waits for the clock), "unchanged" a latest request
// at an unchanged catalogue (a stored version read back), and "native" the
// package a native client downloads (module zip, wheel, Composer dist),
// built from the stored version. It reports the archive size and the ratio
// of a new version to an unchanged request.
func BenchmarkLangpackDelivery1000(b *testing.B) {
	store, pool := benchStore(b)
	defer pool.Close()
	ctx := b.Context()
	benchPush(b, registry.NewAdmin(store), syntheticCatalogue(benchEvents, benchVersions, 0), benchEvents*benchVersions)
	if _, err := store.CreateEnvironment(ctx, "all", "", "bench"); err != nil {
		b.Fatal(err)
	}
	for e := range benchEvents {
		if _, err := store.SetEventAccess(ctx, registry.AccessChange{Environment: "all", EventID: uint32(10000 + e), Allowed: true, Actor: "bench"}); err != nil {
			b.Fatal(err)
		}
	}
	svc := registry.New(store)
	url := benchServe(b, svc, store)
	latest := func(b *testing.B, lang langpack.Language) *registryv1.GetLangpackResponse {
		resp, err := svc.GetLangpack(ctx, &registryv1.GetLangpackRequest{Language: string(lang), Environment: "all", Version: "latest"})
		if err != nil {
			b.Fatal(err)
		}
		return resp
	}
	native := map[langpack.Language]func(v string) string{
		langpack.Go: func(v string) string {
			parsed, err := langpack.ParseVersion(v)
			if err != nil {
				b.Fatal(err)
			}
			return fmt.Sprintf("%s/goproxy/%s/@v/v%s.zip", url, langpack.GoModulePath(langpack.NamesFor("all").GoModule, parsed.Major), v)
		},
		langpack.Python: func(v string) string {
			return fmt.Sprintf("%s/pypi/files/all/%s", url, langpack.WheelFilename(langpack.NamesFor("all"), v))
		},
		langpack.PHP: func(v string) string { return fmt.Sprintf("%s/composer/dist/all/%s.zip", url, v) },
	}
	for _, lang := range langpack.Languages() {
		var perNew, perUnchanged float64
		b.Run(fmt.Sprintf("new-version/%s", lang), func(b *testing.B) {
			toggle := false
			for range b.N {
				b.StopTimer()
				toggle = !toggle
				if _, err := store.SetEventAccess(ctx, registry.AccessChange{Environment: "all", EventID: 10000, Version: 1, Allowed: !toggle, Actor: "bench"}); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				resp := latest(b, lang)
				b.ReportMetric(float64(len(resp.GetArchive())), "archive-bytes")
			}
			perNew = float64(b.Elapsed()) / float64(b.N)
		})
		b.Run(fmt.Sprintf("unchanged/%s", lang), func(b *testing.B) {
			latest(b, lang)
			b.ResetTimer()
			for range b.N {
				latest(b, lang)
			}
			perUnchanged = float64(b.Elapsed()) / float64(b.N)
			if perNew > 0 {
				b.ReportMetric(perNew/perUnchanged, "new-version/unchanged")
			}
		})
		if get, ok := native[lang]; ok {
			b.Run(fmt.Sprintf("native/%s", lang), func(b *testing.B) {
				n := latest(b, lang).GetLangpack().GetPackageVersion()
				for range b.N {
					resp, err := http.Get(get(n))
					if err != nil {
						b.Fatal(err)
					}
					size, _ := io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Fatalf("GET %s: %d", get(n), resp.StatusCode)
					}
					b.ReportMetric(float64(size), "package-bytes")
				}
			})
		}
	}
}

// benchServe serves the registry on a free port until the benchmark ends.
func benchServe(b *testing.B, svc *registry.Service, store *registry.PostgresStore) string {
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, server.Config{Addr: "127.0.0.1:0"}, registry.Routes(registry.Config{}, svc, registry.NewAdmin(store)))
	if err == nil {
		err = srv.Listen()
	}
	if err != nil {
		cancel()
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	b.Cleanup(func() {
		cancel()
		<-done
	})
	return strings.TrimSuffix(srv.URL(), "/")
}

// BenchmarkComposerPackages1000 measures /composer/packages.json for an
// environment allowed all 1,000 versions of the synthetic catalogue, with
// three versions in its line: "first" is a request that builds every
// version's dist zip (after a registry start), "cached" one at unchanged
// versions, answered from the index cache. It reports the ratio.
func BenchmarkComposerPackages1000(b *testing.B) {
	store, pool := benchStore(b)
	defer pool.Close()
	ctx := b.Context()
	benchPush(b, registry.NewAdmin(store), syntheticCatalogue(benchEvents, benchVersions, 0), benchEvents*benchVersions)
	if _, err := store.CreateEnvironment(ctx, "all", "", "bench"); err != nil {
		b.Fatal(err)
	}
	for e := range benchEvents {
		if _, err := store.SetEventAccess(ctx, registry.AccessChange{Environment: "all", EventID: uint32(10000 + e), Allowed: true, Actor: "bench"}); err != nil {
			b.Fatal(err)
		}
	}
	svc := registry.New(store)
	for _, allowed := range []bool{true, false, true} {
		if _, err := store.SetEventAccess(ctx, registry.AccessChange{Environment: "all", EventID: 10000, Version: 1, Allowed: allowed, Actor: "bench"}); err != nil {
			b.Fatal(err)
		}
		if _, err := svc.GetLangpack(ctx, &registryv1.GetLangpackRequest{Language: "php", Environment: "all"}); err != nil {
			b.Fatal(err)
		}
	}
	get := func(b *testing.B, url string) {
		resp, err := http.Get(url + "/composer/packages.json")
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("packages.json: %d", resp.StatusCode)
		}
		b.ReportMetric(float64(n), "bytes")
	}
	var first float64
	b.Run("first", func(b *testing.B) {
		for range b.N {
			b.StopTimer()
			url := benchServe(b, svc, store) // a new server: an empty cache
			b.StartTimer()
			get(b, url)
		}
		first = float64(b.Elapsed()) / float64(b.N)
	})
	b.Run("cached", func(b *testing.B) {
		url := benchServe(b, svc, store)
		get(b, url)
		b.ResetTimer()
		for range b.N {
			get(b, url)
		}
		if first > 0 {
			b.ReportMetric(first/(float64(b.Elapsed())/float64(b.N)), "first/cached")
		}
	})
}
