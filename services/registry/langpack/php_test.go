package langpack_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	protosrc "github.com/clickstream-dev/clickstream/proto"
	"github.com/clickstream-dev/clickstream/services/registry/langpack"
	"github.com/clickstream-dev/clickstream/services/registry/schema"
)

// TestPHPRuntimeLints: the fixed PHP runtime (runtime/php) is valid PHP as
// it stands in the repository, before any generation.
func TestPHPRuntimeLints(t *testing.T) {
	php := tool(t, "php", "apt-get install php-cli")
	files, err := filepath.Glob(filepath.Join("runtime", "php", "*.php"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no runtime/php files (%v)", err)
	}
	for _, f := range files {
		run(t, ".", nil, php, "-l", f)
	}
	// Loaded together, the runtime declares its classes without errors.
	out := run(t, filepath.Join("runtime", "php"), nil, php, "-r",
		`foreach (glob('*.php') as $f) { require_once $f; } foreach (['Event', 'Json', 'Result', 'SendError', 'Sender', 'ValidationError'] as $c) { echo (class_exists('Clickstream\\Runtime\\' . $c) || interface_exists('Clickstream\\Runtime\\' . $c)) ? "ok $c\n" : "missing $c\n"; }`)
	if strings.Count(out, "ok ") != 6 {
		t.Errorf("runtime classes:\n%s", out)
	}
	t.Logf("%d runtime files lint; %d classes load", len(files), strings.Count(out, "ok "))
}

func TestPHPLangpack(t *testing.T) {
	php := tool(t, "php", "apt-get install php-cli")
	p, dir := generate(t, langpack.PHP)
	n := 0
	for _, f := range p.Files {
		if strings.HasSuffix(f.Path, ".php") {
			run(t, dir, nil, php, "-l", f.Path)
			n++
		}
	}
	t.Logf("%d generated PHP files lint", n)
	stub := &ingestStub{}
	srv := restServer(t, stub)
	script := `<?php
declare(strict_types=1);
require __DIR__ . '/autoload.php';
use Clickstream\Events\Web as W;

try {
    (new W\ItemViewV1())->setContext((new W\Context())->setUserId('u-1'))->validate();
    echo "no error for a missing item_id\n";
} catch (W\ValidationError $e) {
    echo 'invalid: ', $e->getMessage(), "\n";
}
try {
    (new W\PhotoStatusChangedV2())->setContext(new W\Context())->setPhotoId('p')->validate();
} catch (W\ValidationError $e) {
    echo 'invalid nested: ', $e->getMessage(), "\n";
}
try {
    (new W\ItemViewV1())->setTags([1]);
} catch (\TypeError $e) {
    echo 'type: ', $e->getMessage(), "\n";
}
echo 'deprecated: ', var_export(W\PhotoStatusChangedV1::DEPRECATED, true), "\n";
$sender = new W\Sender($argv[1], 'ck_test', initialBackoff: 0.001, maxBackoff: 0.01);
try {
    $sender->send([(new W\ItemViewV1())->setContext(new W\Context())]);
} catch (W\ValidationError $e) {
    echo "nothing sent for an invalid event\n";
}
$results = $sender->send([
    (new W\ItemViewV1())->setContext((new W\Context())->setUserId('u-1'))->setItemId(42)->setTags(['a', 'b'])->setAttributes(['k' => 'v']),
    (new W\PhotoStatusChangedV2())->setContext((new W\Context())->setUserId('u-2'))->setPhotoId('p-9')
        ->setStatus(W\ContentStatus::CONTENT_STATUS_BLOCKED)->setReason('spam'),
], ['key-1', 'key-2']);
foreach ($results as $r) {
    echo 'result ', $r->key, ' ', $r->status, ' ', var_export($r->stored(), true), "\n";
}
`
	if err := os.WriteFile(filepath.Join(dir, "check.php"), []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	out := run(t, dir, nil, php, "check.php", srv.URL)
	for _, want := range []string{
		"invalid: ItemViewV1 (event 1001 v1): required field item_id is not set",
		"invalid nested: PhotoStatusChangedV2 (event 2001 v2): required field status is not set",
		"type: ItemViewV1::setTags(): expected string, got int",
		"deprecated: true",
		"nothing sent for an invalid event",
		"result key-1 EVENT_STATUS_ACCEPTED true",
		"result key-2 EVENT_STATUS_ACCEPTED true",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("php output lacks %q:\n%s", want, out)
		}
	}
	assertREST(t, stub, wantREST)
}

// phpSink builds the kitchen sink twice, as kitchenSinkJSON and as
// kitchenSinkExtremesJSON, sends both, and prints the errors of values a
// field cannot hold.
const phpSink = `<?php
declare(strict_types=1);
require __DIR__ . '/autoload.php';
use Clickstream\Events\Sink as S;

$common = (new S\KitchenSinkV1())
    ->setI32(-5)->setS32(-6)->setSf32(-7)->setU32(8)->setF32(9)
    ->setI64(-10)->setS64(-11)->setSf64(-12)->setU64('18446744073709551615')->setF64(14)
    ->setFl(1.5)->setDb(-2.25)->setFlag(true)->setText("h\u{e9}llo \"q\"")->setRaw("\x00\x01\x02\xff")
    ->setColor(S\Color::COLOR_BLUE)->setPart((new S\Part())->setName('p')->setInner((new S\Part_Inner())->setOn(true)))
    ->setNums([1, -2, 300])->setSnums([-1, 2])->setColors([S\Color::COLOR_RED, S\Color::COLOR_BLUE])
    ->setParts([(new S\Part())->setName('a'), (new S\Part())->setName('b')])
    ->setDs([0.5, 1e100])->setFlags([true, false])->setBlobs(["\x01", ''])
    ->setById([1 => 'one', -2 => 'minus two'])->setPartsByName(['x' => (new S\Part())->setName('x')])
    ->setByFlag([true => S\Color::COLOR_RED])->setWeights(['18446744073709551615' => 0.25])
    ->setAt(new \DateTimeImmutable('2026-12-05T15:00:00.123+01:00'))->setTook('-1.500s')->setMaybe(0)
    ->setWord('w')->setInner((new S\Part_Inner())->setOn(true))->setNegative(-1);

$extremes = (new S\KitchenSinkV1())
    ->setI32(-2147483648)->setS32(2147483647)->setSf32(-2147483648)->setU32(4294967295)->setF32(4294967295)
    ->setI64(PHP_INT_MIN)->setS64(PHP_INT_MAX)->setSf64(PHP_INT_MIN)->setU64('18446744073709551615')->setF64('9223372036854775808')
    ->setFl(3.4028234663852886e38)->setDb(-INF)->setFlag(false)->setText('')->setRaw('')
    ->setColor(S\Color::COLOR_UNSPECIFIED)
    ->setNums([-2147483648, 2147483647])->setSnums([PHP_INT_MIN, PHP_INT_MAX])
    ->setParts([(new S\Part())->setName('only')])
    ->setDs([NAN, INF, 5e-324])->setFlags([false])->setBlobs(["\xff"])
    ->setById([-2147483648 => 'min', 0 => 'zero', 2147483647 => 'max'])->setPartsByName(['' => (new S\Part())->setName('empty key')])
    ->setByFlag([true => S\Color::COLOR_RED, false => S\Color::COLOR_BLUE])
    ->setWeights([0 => -0.5, '9223372036854775808' => 1, '18446744073709551615' => 2.0])
    ->setAt('9999-12-31T23:59:59.999999Z')->setTook('-0.000001s')
    ->setNote('')->setNumber(PHP_INT_MIN);

$common->validate();
$extremes->validate();
$sender = new S\Sender($argv[1], 'ck_test', initialBackoff: 0.001, maxBackoff: 0.01);
foreach ($sender->send([$common, $extremes], ['common', 'extremes']) as $r) {
    echo 'result ', $r->key, ' ', $r->status, "\n";
}
echo 'u64 read back: ', var_export($extremes->getU64(), true), ' ', var_export($extremes->getF64(), true), "\n";

$refused = [
    fn () => (new S\KitchenSinkV1())->setU64(-1),
    fn () => (new S\KitchenSinkV1())->setU64('18446744073709551616'),
    fn () => (new S\KitchenSinkV1())->setWeights(['1e3' => 1.0]),
    fn () => (new S\KitchenSinkV1())->setI32(2147483648),
    fn () => (new S\KitchenSinkV1())->setU32(-1),
    fn () => (new S\KitchenSinkV1())->setByFlag([2 => S\Color::COLOR_RED]),
    fn () => (new S\KitchenSinkV1())->setText("\xff"),
    fn () => (new S\KitchenSinkV1())->setFl(1e39),
    fn () => (new S\KitchenSinkV1())->setTook('1.5'),
    fn () => (new S\KitchenSinkV1())->setAt('yesterday'),
    fn () => (new S\KitchenSinkV1())->setNums([1.5]),
];
foreach ($refused as $set) {
    try {
        $set();
        echo "accepted\n";
    } catch (\InvalidArgumentException | \TypeError $e) {
        echo 'refused: ', $e->getMessage(), "\n";
    }
}
`

// TestPHPLangpackWire: the PHP langpack sends every field kind as protobuf
// JSON that Go's protojson reads back equal to the expected message — the
// common values and the extremes (64-bit limits with uint64 above
// PHP_INT_MAX as strings, map<bool, …> keys, NaN and infinities, unset
// optional) — and refuses, with a message naming the setter, the values a
// field cannot hold.
func TestPHPLangpackWire(t *testing.T) {
	php := tool(t, "php", "apt-get install php-cli")
	in, md := kitchenSinkInput(t)
	_, dir := generateInto(t, langpack.PHP, in)
	if err := os.WriteFile(filepath.Join(dir, "sink.php"), []byte(phpSink), 0o644); err != nil {
		t.Fatal(err)
	}
	stub := &ingestStub{}
	srv := restServer(t, stub)
	out := run(t, dir, nil, php, "sink.php", srv.URL)
	for _, want := range []string{
		"result common EVENT_STATUS_ACCEPTED",
		"result extremes EVENT_STATUS_ACCEPTED",
		"u64 read back: '18446744073709551615' '9223372036854775808'",
		"refused: KitchenSinkV1::setU64(): -1 is outside the uint64 range [0, 18446744073709551615] (a uint64 above PHP_INT_MAX is given as a decimal string)",
		"refused: KitchenSinkV1::setU64(): 18446744073709551616 is outside the uint64 range",
		"refused: KitchenSinkV1::setWeights() key: '1e3' is not a decimal uint64",
		"refused: KitchenSinkV1::setI32(): 2147483648 is outside the int32 range [-2147483648, 2147483647]",
		"refused: KitchenSinkV1::setU32(): -1 is outside the uint32 range [0, 4294967295]",
		"refused: KitchenSinkV1::setByFlag() key: 2 is not a bool",
		"refused: KitchenSinkV1::setText(): the string is not UTF-8",
		"refused: KitchenSinkV1::setFl(): 1.0E+39 is outside the range of a float field",
		"refused: KitchenSinkV1::setTook(): '1.5' is not a duration",
		"refused: KitchenSinkV1::setAt(): 'yesterday' is not an RFC 3339 time",
		"refused: KitchenSinkV1::setNums(): expected int, got float",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("php output lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "accepted\n"); n > 0 {
		t.Errorf("%d values a field cannot hold were accepted:\n%s", n, out)
	}
	assertSinkRoundTrip(t, "PHP", stub, md)
}

// TestPHPRuntimeIsEmbedded: the pack carries runtime/php's files in its own
// namespace, byte for byte apart from that one line.
func TestPHPRuntimeIsEmbedded(t *testing.T) {
	p, err := langpack.Generate(langpack.PHP, fixtureInput(t, 3))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	err = fs.WalkDir(os.DirFS(filepath.Join("runtime", "php")), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		src, err := os.ReadFile(filepath.Join("runtime", "php", path))
		if err != nil {
			return err
		}
		at := "src/" + path
		if path == "autoload.php" {
			at = path
		}
		got, ok := p.File(at)
		want := strings.Replace(string(src), `namespace Clickstream\Runtime;`, `namespace Clickstream\Events\Web;`, 1)
		if !ok || string(got) != want {
			t.Errorf("%s: the pack's copy differs from runtime/php/%s with the namespace replaced", at, path)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d runtime files in the pack", n)
}

// runtimeClashInput is a catalogue whose event references a message named
// name.
func runtimeClashInput(t *testing.T, name string) langpack.Input {
	t.Helper()
	src := `syntax = "proto3";

package clash.v1;

import "clickstream/options/v1/options.proto";

message ` + name + ` {
  string id = 1;
}

message ClashV1 {
  option (clickstream.options.v1.event) = {
    id: 7002
    version: 1
    description: "References a message named like a runtime class."
  };

  ` + name + ` value = 1;
}
`
	set, err := schema.Compile(context.Background(), fstest.MapFS{"clash/v1/clash.proto": {Data: []byte(src)}}, protosrc.FS)
	if err != nil {
		t.Fatal(err)
	}
	return langpack.Input{Environment: "clash", Revision: 1, Files: fileSet(set.Files),
		Events: []langpack.Event{{ID: 7002, Version: 1, MessageName: "clash.v1.ClashV1"}}}
}

// TestRuntimeNameCollision: a catalogue message named like a class of the
// PHP or Python runtime fails generation with a message naming it, rather
// than giving a pack whose classes replace each other.
func TestRuntimeNameCollision(t *testing.T) {
	for _, c := range []struct {
		lang langpack.Language
		name string
	}{{langpack.PHP, "Json"}, {langpack.PHP, "Sender"}, {langpack.Python, "Result"}, {langpack.Python, "ValidationError"}} {
		_, err := langpack.Generate(c.lang, runtimeClashInput(t, c.name))
		if err == nil || !strings.Contains(err.Error(), "clash.v1."+c.name+" is generated as the class "+c.name) {
			t.Errorf("%s with a message %s: error %v, want one naming clash.v1.%s", c.lang, c.name, err, c.name)
		}
	}
}
