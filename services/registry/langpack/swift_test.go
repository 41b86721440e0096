package langpack_test

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clickstream-dev/clickstream/services/registry/langpack"
)

// TestSwiftLangpack type-checks the Swift langpack where a Swift toolchain
// exists. Debian ships none, so on the machines this project is built on
// (CI included) it skips: the Swift output is checked by golden files
// (TestGolden, TestSwiftKitchenSinkGolden) and its time arithmetic by the
// Go port below.
func TestSwiftLangpack(t *testing.T) {
	swiftc, err := exec.LookPath("swiftc")
	if err != nil {
		t.Skip("swiftc is not installed (Debian has no Swift package): the Swift langpack is checked by its golden files only")
	}
	webPack, webDir := generate(t, langpack.Swift)
	in, _ := kitchenSinkInput(t)
	sinkPack, sinkDir := generateInto(t, langpack.Swift, in)
	for _, c := range []struct {
		env string
		p   *langpack.Pack
		dir string
	}{{"web", webPack, webDir}, {"sink", sinkPack, sinkDir}} {
		var sources []string
		for _, f := range c.p.Files {
			if strings.HasPrefix(f.Path, "Sources/") && strings.HasSuffix(f.Path, ".swift") {
				sources = append(sources, f.Path)
			}
		}
		run(t, c.dir, nil, swiftc, append([]string{"-typecheck", "-module-name", langpack.NamesFor(c.env).SwiftModule}, sources...)...)
	}
}

// TestSwiftKitchenSinkGolden: the Swift classes of the kitchen-sink event
// (every field kind) match testdata/golden/swift-sink; -update rewrites
// them. With no Swift toolchain here, this golden output is how the Swift
// encoding of every kind is reviewed (the runtime files are in
// testdata/golden/swift).
func TestSwiftKitchenSinkGolden(t *testing.T) {
	in, _ := kitchenSinkInput(t)
	p, err := langpack.Generate(langpack.Swift, in)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("testdata", "golden", "swift-sink")
	got := map[string][]byte{}
	for _, f := range p.Files {
		base := filepath.Base(f.Path)
		if !strings.HasSuffix(base, ".swift") || isSwiftRuntimeFile(base) || base == "Package.swift" {
			continue
		}
		got[base] = f.Data
	}
	if *update {
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, data := range got {
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	want := readTree(t, dir)
	if len(want) == 0 {
		t.Fatalf("no golden files in %s: run go test ./services/registry/langpack -run TestSwiftKitchenSinkGolden -update", dir)
	}
	for name, w := range want {
		if g, ok := got[name]; !ok {
			t.Errorf("%s: golden file is not generated any more", name)
		} else if !bytes.Equal(g, w) {
			t.Errorf("%s differs from the golden file (run with -update and review the diff):\n%s", name, firstDiff(g, w))
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: generated but has no golden file", name)
		}
	}
	t.Logf("%d Swift files of the kitchen sink match their golden files", len(want))
}

// isSwiftRuntimeFile reports whether a pack file is a runtime file, carried
// from runtime/swift as it is.
func isSwiftRuntimeFile(base string) bool {
	_, err := os.Stat(filepath.Join("runtime", "swift", base))
	return err == nil
}

// The Timestamp and Duration arithmetic of runtime/swift/ProtoWriter.swift,
// ported to Go line by line: Swift's rounded(.down), rounded(.towardZero)
// and rounded() are math.Floor, math.Trunc and math.Round on the same IEEE
// doubles. TestSwiftTimeArithmeticPinned fails when the Swift text changes,
// so the port cannot drift from it.

// swiftTimestampParts is timestampParts(_:) of a Date whose
// timeIntervalSinceReferenceDate is interval.
func swiftTimestampParts(interval float64) (seconds int64, nanos int32, ok bool) {
	if math.IsNaN(interval) || math.IsInf(interval, 0) || !(math.Abs(interval) < 1e12) {
		return 0, 0, false
	}
	whole := math.Floor(interval)
	seconds = int64(whole) + 978_307_200
	micros := int64(math.Round((interval - whole) * 1_000_000))
	if micros == 1_000_000 {
		seconds++
		micros = 0
	}
	if seconds < -62_135_596_800 || seconds > 253_402_300_799 {
		return 0, 0, false
	}
	return seconds, int32(micros * 1_000), true
}

// swiftDurationParts is durationParts(_:).
func swiftDurationParts(d float64) (seconds int64, nanos int32, ok bool) {
	if math.IsNaN(d) || math.IsInf(d, 0) || !(math.Abs(d) < 1e12) {
		return 0, 0, false
	}
	whole := math.Trunc(d)
	seconds = int64(whole)
	n := int64(math.Round((d - whole) * 1_000_000_000))
	if n == 1_000_000_000 {
		seconds++
		n = 0
	} else if n == -1_000_000_000 {
		seconds--
		n = 0
	}
	if seconds > 315_576_000_000 || seconds < -315_576_000_000 {
		return 0, 0, false
	}
	return seconds, int32(n), true
}

// swiftOldNanos is what the Swift pack wrote before: the fraction of
// seconds rounded to nanos with no carry (floor for a Timestamp, toward
// zero for a Duration).
func swiftOldNanos(x float64, floor bool) int64 {
	whole := math.Trunc(x)
	if floor {
		whole = math.Floor(x)
	}
	return int64(math.Round((x - whole) * 1e9))
}

const unix2001 = 978_307_200 // 2001-01-01T00:00:00Z, Date's reference date

func TestSwiftTimeArithmetic(t *testing.T) {
	timestamps := []struct {
		name     string
		interval float64 // since 2001-01-01
		seconds  int64   // since 1970
		nanos    int32
		carry    bool // the fraction rounds up to a whole second
	}{
		{"reference date", 0, unix2001, 0, false},
		{"milliseconds stay exact", 815_056_800.123, unix2001 + 815_056_800, 123_000_000, false},
		{"before 2001", -0.25, unix2001 - 1, 750_000_000, false},
		{"a tenth of a microsecond below a second", 0.9999999, unix2001 + 1, 0, true},
		{"below a second before 2001", -1e-9, unix2001, 0, true},
		{"rounded to the nearest microsecond", 10.0000016, unix2001 + 10, 2_000, false},
		{"the Unix epoch", -unix2001, 0, 0, false},
		{"year 1", -63_113_904_000, -62_135_596_800, 0, false},
		{"year 9999, last second", 252_423_993_599.5, 253_402_300_799, 500_000_000, false},
	}
	for _, c := range timestamps {
		s, n, ok := swiftTimestampParts(c.interval)
		if !ok || s != c.seconds || n != c.nanos {
			t.Errorf("timestamp %s (%v): got %d s %d ns ok=%t, want %d s %d ns", c.name, c.interval, s, n, ok, c.seconds, c.nanos)
		}
		if frac := c.interval - math.Floor(c.interval); c.carry != (math.Round(frac*1e6) == 1e6) {
			t.Errorf("timestamp %s: the case does not exercise the carry it claims (%t)", c.name, c.carry)
		}
	}
	for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1), -63_113_904_001, 252_423_993_600, 1e13} {
		if s, n, ok := swiftTimestampParts(bad); ok {
			t.Errorf("timestamp %v: got %d s %d ns, want refused (outside years 1 to 9999)", bad, s, n)
		}
	}

	durations := []struct {
		name    string
		d       float64
		seconds int64
		nanos   int32
		oldBug  bool // the pack wrote 1e9 or -1e9 nanos before
	}{
		{"zero", 0, 0, 0, false},
		{"one and a half", 1.5, 1, 500_000_000, false},
		{"minus one and a half", -1.5, -1, -500_000_000, false},
		{"a nanosecond", 1e-9, 0, 1, false},
		{"minus a nanosecond", -1e-9, 0, -1, false},
		{"just below a second", 0.9999999999, 1, 0, true},
		{"just above minus two seconds", -1.9999999999, -2, 0, true},
		{"the longest", 315_576_000_000, 315_576_000_000, 0, false},
		{"the shortest", -315_576_000_000, -315_576_000_000, 0, false},
	}
	for _, c := range durations {
		s, n, ok := swiftDurationParts(c.d)
		if !ok || s != c.seconds || n != c.nanos {
			t.Errorf("duration %s (%v): got %d s %d ns ok=%t, want %d s %d ns", c.name, c.d, s, n, ok, c.seconds, c.nanos)
		}
		if old := swiftOldNanos(c.d, false); c.oldBug != (old == 1e9 || old == -1e9) {
			t.Errorf("duration %s: the old arithmetic gave %d ns: the case does not show the bug it claims (%t)", c.name, old, c.oldBug)
		}
	}
	if old := swiftOldNanos(0.9999999999, true); old != 1e9 {
		t.Errorf("the old Timestamp arithmetic gave %d ns for 0.9999999999 s, want the 1,000,000,000 it was fixed for", old)
	}
	for _, bad := range []float64{math.NaN(), math.Inf(1), 315_576_000_001, -315_576_000_001, 1e13} {
		if s, n, ok := swiftDurationParts(bad); ok {
			t.Errorf("duration %v: got %d s %d ns, want refused", bad, s, n)
		}
	}

	// Every double in range: Timestamp nanos in [0, 1e9) and within half a
	// microsecond; Duration nanos of the seconds' sign in (-1e9, 1e9) and
	// within half a nanosecond (and the double's own spacing).
	r := rand.New(rand.NewPCG(24, 1))
	const n = 200_000
	for range n {
		x := (r.Float64()*2 - 1) * math.Pow(10, float64(r.IntN(12)))
		if s, ns, ok := swiftTimestampParts(x); ok {
			back := float64(s-unix2001) + float64(ns)/1e9
			if ns < 0 || ns >= 1e9 || math.Abs(back-x) > 5e-7+ulp(x) {
				t.Fatalf("timestamp of %v: %d s %d ns", x, s, ns)
			}
		}
		if s, ns, ok := swiftDurationParts(x); ok {
			back := float64(s) + float64(ns)/1e9
			if ns <= -1e9 || ns >= 1e9 || (s > 0 && ns < 0) || (s < 0 && ns > 0) || math.Abs(back-x) > 5e-10+2*ulp(x) {
				t.Fatalf("duration of %v: %d s %d ns", x, s, ns)
			}
		}
	}
	t.Logf("%d timestamp and %d duration cases, %d random doubles: nanos never reach 1,000,000,000", len(timestamps), len(durations), n)
}

func ulp(x float64) float64 { return math.Nextafter(math.Abs(x), math.Inf(1)) - math.Abs(x) }

// swiftTimeFuncs is the Swift text the Go port above follows. Change both
// together.
var swiftTimeFuncs = map[string]string{
	"timestampParts": `
    static func timestampParts(_ t: Date) -> (seconds: Int64, nanos: Int32)? {
        let interval = t.timeIntervalSinceReferenceDate
        guard interval.isFinite, interval.magnitude < 1e12 else {
            return nil
        }
        let whole = interval.rounded(.down)
        var seconds = Int64(whole) + 978_307_200 // 2001-01-01T00:00:00Z
        var micros = Int64(((interval - whole) * 1_000_000).rounded())
        if micros == 1_000_000 {
            seconds += 1
            micros = 0
        }
        guard seconds >= -62_135_596_800, seconds <= 253_402_300_799 else {
            return nil
        }
        return (seconds, Int32(micros * 1_000))
    }`,
	"durationParts": `
    static func durationParts(_ d: TimeInterval) -> (seconds: Int64, nanos: Int32)? {
        guard d.isFinite, d.magnitude < 1e12 else {
            return nil
        }
        let whole = d.rounded(.towardZero)
        var seconds = Int64(whole)
        var nanos = Int64(((d - whole) * 1_000_000_000).rounded())
        if nanos == 1_000_000_000 {
            seconds += 1
            nanos = 0
        } else if nanos == -1_000_000_000 {
            seconds -= 1
            nanos = 0
        }
        guard seconds.magnitude <= 315_576_000_000 else {
            return nil
        }
        return (seconds, Int32(nanos))
    }`,
}

// TestSwiftTimeArithmeticPinned: the Swift runtime holds exactly the
// arithmetic TestSwiftTimeArithmetic tests, and the Timestamp and Duration
// writers go through it.
func TestSwiftTimeArithmeticPinned(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("runtime", "swift", "ProtoWriter.swift"))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range swiftTimeFuncs {
		_, rest, ok := strings.Cut(string(src), "\n    static func "+name+"(")
		if !ok {
			t.Errorf("ProtoWriter.swift has no static func %s", name)
			continue
		}
		body, _, _ := strings.Cut(rest, "\n    }\n")
		got := "\n    static func " + name + "(" + body + "\n    }"
		if got != want {
			t.Errorf("ProtoWriter.swift's %s is not the arithmetic the Go port tests: change the port in swift_test.go with it\n%s", name, firstDiff([]byte(got), []byte(want)))
		}
	}
	for _, call := range []string{"guard let p = timestampParts(t) else", "guard let p = durationParts(d) else"} {
		if !strings.Contains(string(src), call) {
			t.Errorf("ProtoWriter.swift does not write through %q", call)
		}
	}
}
