package platform_test

import (
	"archive/zip"
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clickstream-dev/clickstream/platform"
	"github.com/clickstream-dev/clickstream/services/registry/langpack"
)

// phpComposerSend loads the dist as Composer's PSR-4 autoloader would (from
// the dist's own composer.json) and sends one event with a
// \DateTimeImmutable time through the pack's Sender.
const phpComposerSend = `<?php
declare(strict_types=1);

$dir = __DIR__ . '/vendor/clickstream/events-web';
$composer = json_decode(file_get_contents($dir . '/composer.json'), true, 512, JSON_THROW_ON_ERROR);
foreach ($composer['autoload']['psr-4'] as $prefix => $path) {
    spl_autoload_register(static function (string $class) use ($prefix, $path, $dir): void {
        if (strncmp($class, $prefix, strlen($prefix)) === 0) {
            $file = $dir . '/' . $path . str_replace('\\', '/', substr($class, strlen($prefix))) . '.php';
            if (is_file($file)) {
                require $file;
            }
        }
    });
}

use Clickstream\Events\Web as W;

try {
    (new W\ItemViewV2())->setContext((new W\Context())->setUserId('u-php'))->validate();
    exit("an ItemViewV2 without item_id passed validation\n");
} catch (W\ValidationError $e) {
    echo 'missing required field raised: ', $e->getMessage(), "\n";
}
$ev = (new W\ItemViewV2())
    ->setContext((new W\Context())->setUserId('u-php')->setOccurredAt(new \DateTimeImmutable('-1 minute')))
    ->setItemId(4815162342)
    ->setReferrer('composer');
foreach ((new W\Sender($argv[1], $argv[2]))->send([$ev], ['php-langpack-1']) as $r) {
    echo $r->key, ' ', $r->status, ' ', json_encode($r->rejection), "\n";
}
`

// TestLangpackPHPFromComposerRepository: the web langpack found through
// /composer/packages.json, as Composer finds it (its dist zip checked
// against the stated SHA-1), runs under php and sends an event that the
// running ingest accepts over REST; a missing required field throws before
// sending.
func TestLangpackPHPFromComposerRepository(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and NATS, runs php")
	}
	php, err := exec.LookPath("php")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("php is not installed (CI is set): apt-get install php-cli")
		}
		t.Skip("php is not installed: apt-get install php-cli")
	}
	s, key := webLangpackStack(t)
	registry := s.URL(platform.Registry)

	var repo struct {
		Packages map[string]map[string]struct {
			Dist struct{ URL, Shasum string }
		}
	}
	if err := json.Unmarshal(httpBody(t, registry+"/composer/packages.json"), &repo); err != nil {
		t.Fatal(err)
	}
	versions := repo.Packages[langpack.NamesFor("web").ComposerName]
	if len(versions) == 0 {
		t.Fatalf("packages.json lists no %s: %v", langpack.NamesFor("web").ComposerName, repo.Packages)
	}
	var newest string
	for v := range versions {
		if newest == "" || langpackVersionLess(newest, v) {
			newest = v
		}
	}
	dist := versions[newest].Dist
	data := httpBody(t, dist.URL)
	if sum := sha1.Sum(data); hex.EncodeToString(sum[:]) != dist.Shasum {
		t.Fatalf("the dist of %s has SHA-1 %x, packages.json says %s", newest, sum, dist.Shasum)
	}
	dir := t.TempDir()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range zr.File {
		path := filepath.Join(dir, "vendor", "clickstream", "events-web", filepath.FromSlash(f.Name))
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "send.php"), []byte(phpComposerSend), 0o644); err != nil {
		t.Fatal(err)
	}
	out := run(t, dir, nil, php, "send.php", s.URL(platform.Ingest), key)
	t.Logf("version %s, %d files in the dist:\n%s", newest, len(zr.File), out)
	if !strings.Contains(out, "php-langpack-1 EVENT_STATUS_ACCEPTED") || !strings.Contains(out, "missing required field raised") {
		t.Fatalf("the PHP program's event was not accepted by ingest:\n%s", out)
	}
}

// httpBody GETs url and returns the body of a 200 answer.
func httpBody(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v\n%s", url, resp.StatusCode, err, b)
	}
	return b
}

// langpackVersionLess compares two "X.Y.Z" versions.
func langpackVersionLess(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		if len(pa[i]) != len(pb[i]) {
			return len(pa[i]) < len(pb[i])
		}
		if pa[i] != pb[i] {
			return pa[i] < pb[i]
		}
	}
	return len(pa) < len(pb)
}
