package langpack_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	ingestv1 "github.com/clickstream-dev/clickstream/gen/go/clickstream/ingest/v1"
	"github.com/clickstream-dev/clickstream/services/registry/langpack"
)

// javaCheck uses the Java langpack as an app would; args: the ingest URL
// and a file to write the request body of the two fixture events to.
const javaCheck = `import dev.clickstream.events.web.*;
import java.util.*;

public class Check {
    public static void main(String[] args) throws Exception {
        try {
            new ItemViewV1().setContext(new Context().setUserId("u-1")).validate();
            System.out.println("no error for a missing item_id");
        } catch (ValidationException e) {
            System.out.println("invalid: " + e.getMessage());
        }
        try {
            new PhotoStatusChangedV2().setContext(new Context()).setPhotoId("p").validate();
        } catch (ValidationException e) {
            System.out.println("invalid nested: " + e.getMessage());
        }
        try {
            new ItemViewV1().setItemId(1).setContext(new Context().setUserId("u-1")
                    .setOccurredAt(java.time.Instant.parse("+10000-01-01T00:00:00Z"))).validate();
            System.out.println("no error for a year-10000 time");
        } catch (ValidationException e) {
            System.out.println("invalid time: " + e.getMessage());
        }
        System.out.println("deprecated: " + PhotoStatusChangedV1.class.isAnnotationPresent(Deprecated.class) + " " + PhotoStatusChangedV1.DEPRECATED);
        System.out.println(ItemViewV1.EVENT_ID + " " + ItemViewV1.EVENT_VERSION + " " + ItemViewV1.MESSAGE_NAME);

        Sender sender = new Sender(args[0]).apiKey("ck_test").backoff(1, 10);
        try {
            sender.send(new ItemViewV1().setContext(new Context()));
        } catch (ValidationException e) {
            System.out.println("nothing sent for an invalid event");
        }
        Map<String, String> attributes = new LinkedHashMap<String, String>();
        attributes.put("k", "v");
        List<ClickstreamEvent> events = Arrays.<ClickstreamEvent>asList(
                new ItemViewV1().setContext(new Context().setUserId("u-1")).setItemId(42)
                        .setTags(Arrays.asList("a", "b")).setAttributes(attributes),
                new PhotoStatusChangedV2().setContext(new Context().setUserId("u-2")).setPhotoId("p-9")
                        .setStatus(ContentStatus.CONTENT_STATUS_BLOCKED).setReason("spam"));
        List<String> keys = Arrays.asList("key-1", "key-2");
        java.nio.file.Files.write(java.nio.file.Paths.get(args[1]), Sender.requestBody(events, keys));
        for (Result r : sender.send(events, keys)) {
            System.out.println("result " + r.key() + " " + r.status() + " " + r.stored());
        }
        String key = sender.add(events.get(0));
        for (Result r : sender.flush()) {
            System.out.println("queued " + r.key().equals(key) + " " + r.status());
        }
    }
}
`

// TestJavaLangpack: the fixture pack compiles for Java 8 with every lint
// on and nothing on the classpath (it depends on no protobuf runtime),
// validates before sending, and sends typed events over the Connect
// protocol, retrying with the same bytes; protoc reads what it writes.
func TestJavaLangpack(t *testing.T) {
	javac := tool(t, "javac", "apt-get install default-jdk-headless")
	java := tool(t, "java", "apt-get install default-jdk-headless")
	p, dir := generate(t, langpack.Java)
	var sources []string
	for _, f := range p.Files {
		if strings.HasSuffix(f.Path, ".java") {
			sources = append(sources, f.Path)
		}
	}
	// The Java 8 language level keeps the sources usable on Android; the
	// classpath holds nothing but the output.
	if err := os.Mkdir(filepath.Join(dir, "classes"), 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, dir, nil, javac, append([]string{"--release", "8", "-Xlint:all,-deprecation,-options", "-Werror", "-cp", "classes", "-d", "classes"}, sources...)...)
	if err := os.WriteFile(filepath.Join(dir, "Check.java"), []byte(javaCheck), 0o644); err != nil {
		t.Fatal(err)
	}
	cp := "classes"
	run(t, dir, nil, javac, "-cp", cp, "-d", "classes", "Check.java")

	stub := &ingestStub{}
	srv := connectStub(t, stub)
	body := filepath.Join(dir, "body.bin")
	out := run(t, dir, nil, java, "-cp", cp, "Check", srv.URL, body)
	for _, want := range []string{
		"invalid: ItemViewV1 (event 1001 v1): required field item_id is not set",
		"invalid nested: PhotoStatusChangedV2 (event 2001 v2): required field status is not set",
		"invalid time: ItemViewV1 (event 1001 v1): field context.occurred_at: +10000-01-01T00:00:00Z is outside the range of google.protobuf.Timestamp",
		"deprecated: true true",
		"1001 1 fixture.events.v1.ItemViewV1",
		"nothing sent for an invalid event",
		"result key-1 EVENT_STATUS_ACCEPTED true",
		"result key-2 EVENT_STATUS_ACCEPTED true",
		"queued true EVENT_STATUS_ACCEPTED",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("java output lacks %q:\n%s", want, out)
		}
	}

	stub.mu.Lock()
	defer stub.mu.Unlock()
	if len(stub.requests) != 3 {
		t.Fatalf("ingest saw %d requests, want 3 (Unavailable, its retry, the queued batch)", len(stub.requests))
	}
	if !bytes.Equal(stub.requests[0], stub.requests[1]) {
		t.Error("the retry differs from the first attempt: idempotency keys must be kept")
	}
	for _, a := range stub.auth {
		if a != "Bearer ck_test" {
			t.Errorf("Authorization = %q, want Bearer ck_test", a)
		}
	}
	assertTypedBatch(t, stub.requests[0])
	written, err := os.ReadFile(body)
	if err != nil {
		t.Fatal(err)
	}
	assertTypedBatch(t, written)

	// protoc reads the same bytes as a SendBatchRequest with typed events.
	protoc, err := exec.LookPath("protoc")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("protoc is not installed (CI is set): apt-get install protobuf-compiler")
		}
		t.Log("protoc is not installed: the wire check with protoc --decode is skipped")
		return
	}
	// The descriptors come from Go (the ingest contract and the fixture
	// catalogue), so protoc needs no include directories.
	set := fileSet([]protoreflect.FileDescriptor{ingestv1.File_clickstream_ingest_v1_ingest_proto})
	have := map[string]bool{}
	for _, f := range set.GetFile() {
		have[f.GetName()] = true
	}
	for _, f := range fixtureInput(t, 1).Files.GetFile() {
		if !have[f.GetName()] {
			set.File = append(set.File, f)
		}
	}
	setData, err := proto.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	setPath := filepath.Join(dir, "descriptors.pb")
	if err := os.WriteFile(setPath, setData, 0o644); err != nil {
		t.Fatal(err)
	}
	decode := func(message string, data []byte) string {
		t.Helper()
		cmd := exec.Command(protoc, "--descriptor_set_in="+setPath, "--decode="+message,
			"clickstream/ingest/v1/ingest.proto", "fixture/events/v1/item_view.proto", "fixture/events/v1/photo_status_changed.proto")
		cmd.Stdin = bytes.NewReader(data)
		text, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("protoc --decode=%s: %v\n%s", message, err, text)
		}
		return string(text)
	}
	text := decode("clickstream.ingest.v1.SendBatchRequest", written)
	for _, want := range []string{`idempotency_key: "key-1"`, `type_url: "type.googleapis.com/fixture.events.v1.ItemViewV1"`, `idempotency_key: "key-2"`} {
		if !strings.Contains(text, want) {
			t.Errorf("protoc --decode output lacks %q:\n%s", want, text)
		}
	}
	var req ingestv1.SendBatchRequest
	if err := proto.Unmarshal(written, &req); err != nil {
		t.Fatal(err)
	}
	for i, wants := range [][]string{
		{`user_id: "u-1"`, `item_id: 42`, `tags: "a"`, `tags: "b"`, `key: "k"`},
		{`user_id: "u-2"`, `photo_id: "p-9"`, `status: CONTENT_STATUS_BLOCKED`, `reason: "spam"`},
	} {
		typed := req.GetEvents()[i].GetTyped()
		text := decode(strings.TrimPrefix(typed.GetTypeUrl(), "type.googleapis.com/"), typed.GetValue())
		for _, want := range wants {
			if !strings.Contains(text, want) {
				t.Errorf("protoc --decode of event %d lacks %q:\n%s", i, want, text)
			}
		}
	}
}

const javaSink = `import dev.clickstream.events.sink.*;
import java.util.*;

public class Sink {
    public static void main(String[] args) throws Exception {
        Map<Integer, String> byId = new LinkedHashMap<Integer, String>();
        byId.put(1, "one");
        byId.put(-2, "minus two");
        Map<String, Part> partsByName = new LinkedHashMap<String, Part>();
        partsByName.put("x", new Part().setName("x"));
        Map<Boolean, Color> byFlag = new LinkedHashMap<Boolean, Color>();
        byFlag.put(true, Color.COLOR_RED);
        Map<Long, Double> weights = new LinkedHashMap<Long, Double>();
        weights.put(-1L, 0.25);
        KitchenSinkV1 k = new KitchenSinkV1()
                .setI32(-5).setS32(-6).setSf32(-7).setU32(8).setF32(9)
                .setI64(-10).setS64(-11).setSf64(-12).setU64(-1L).setF64(14)
                .setFl(1.5f).setDb(-2.25).setFlag(true).setText("h\u00e9llo \"q\"").setRaw(new byte[] {0, 1, 2, (byte) 0xff})
                .setColor(Color.COLOR_BLUE).setPart(new Part().setName("p").setInner(new Part_Inner().setOn(true)))
                .setNums(Arrays.asList(1, -2, 300)).setSnums(Arrays.asList(-1L, 2L)).setColors(Arrays.asList(Color.COLOR_RED, Color.COLOR_BLUE))
                .setParts(Arrays.asList(new Part().setName("a"), new Part().setName("b")))
                .setDs(Arrays.asList(0.5, 1e100)).setFlags(Arrays.asList(true, false)).setBlobs(Arrays.asList(new byte[] {1}, new byte[0]))
                .setById(byId).setPartsByName(partsByName).setByFlag(byFlag).setWeights(weights)
                .setAt(java.time.Instant.parse("2026-12-05T14:00:00.123Z")).setTook(java.time.Duration.ofMillis(-1500)).setMaybe(0)
                .setWord("w").setInner(new Part_Inner().setOn(true)).setNegative(-1);
        k.validate();
        java.nio.file.Files.write(java.nio.file.Paths.get(args[0]), k.toByteArray());
        try {
            new KitchenSinkV1().setParts(Arrays.asList(new Part().setName("a"), new Part())).validate();
        } catch (ValidationException e) {
            System.out.println("invalid: " + e.getMessage());
        }
    }
}
`

// javaExtremes sets the values at the edges of each kind, proto3 optional
// fields to their zero values (present) and the Timestamp and Duration
// just below zero, where normalization matters; then shows that times
// protobuf cannot carry throw rather than being sent wrong.
const javaExtremes = `import dev.clickstream.events.sink.*;
import java.util.*;

public class Extremes {
    public static void main(String[] args) throws Exception {
        Map<Integer, String> byId = new LinkedHashMap<Integer, String>();
        byId.put(Integer.MIN_VALUE, "");
        byId.put(Integer.MAX_VALUE, "\uD83D\uDE00");
        Map<Boolean, Color> byFlag = new LinkedHashMap<Boolean, Color>();
        byFlag.put(false, Color.COLOR_UNSPECIFIED);
        byFlag.put(true, Color.COLOR_BLUE);
        Map<Long, Double> weights = new LinkedHashMap<Long, Double>();
        weights.put(0L, Double.MAX_VALUE);
        weights.put(Long.MIN_VALUE, Double.MIN_VALUE);
        weights.put(Long.MAX_VALUE, Double.NEGATIVE_INFINITY);
        KitchenSinkV1 k = new KitchenSinkV1()
                .setI32(Integer.MIN_VALUE).setS32(Integer.MIN_VALUE).setSf32(Integer.MIN_VALUE).setU32(-1).setF32(-1)
                .setI64(Long.MIN_VALUE).setS64(Long.MIN_VALUE).setSf64(Long.MIN_VALUE).setU64(-1L).setF64(-1L)
                .setFl(-0.0f).setDb(Double.POSITIVE_INFINITY).setText("\u0000")
                .setNums(Arrays.asList(Integer.MAX_VALUE, Integer.MIN_VALUE, 0)).setSnums(Arrays.asList(Long.MAX_VALUE, Long.MIN_VALUE))
                .setParts(Arrays.asList(new Part().setName("\uD83D\uDE00")))
                .setById(byId).setByFlag(byFlag).setWeights(weights)
                .setAt(java.time.Instant.parse("1969-12-31T23:59:59.999999999Z")).setTook(java.time.Duration.ofNanos(-1))
                .setMaybe(0).setNote("").setNumber(Long.MAX_VALUE).setNegative(Integer.MIN_VALUE);
        k.validate();
        java.nio.file.Files.write(java.nio.file.Paths.get(args[0]), k.toByteArray());
        KitchenSinkV1 edges = new KitchenSinkV1().setParts(Arrays.asList(new Part().setName("e")))
                .setAt(java.time.Instant.parse("9999-12-31T23:59:59.999999999Z")).setTook(java.time.Duration.ofSeconds(-315576000000L));
        java.nio.file.Files.write(java.nio.file.Paths.get(args[1]), edges.toByteArray());
        try {
            new KitchenSinkV1().setAt(java.time.Instant.parse("+10000-01-01T00:00:00Z")).toByteArray();
            System.out.println("a year-10000 timestamp was encoded");
        } catch (IllegalArgumentException e) {
            System.out.println("range: " + e.getMessage());
        }
        try {
            new KitchenSinkV1().setTook(java.time.Duration.ofSeconds(315576000001L)).toByteArray();
            System.out.println("an over-long duration was encoded");
        } catch (IllegalArgumentException e) {
            System.out.println("range: " + e.getMessage());
        }
        try {
            // Nothing reaches the network: validation comes first.
            new Sender("http://127.0.0.1:9").send(new KitchenSinkV1().setParts(Arrays.asList(new Part().setName("e")))
                    .setAt(java.time.Instant.parse("-0001-12-31T23:59:59Z")));
            System.out.println("a year-0 timestamp was sent");
        } catch (ValidationException e) {
            System.out.println("not sent: " + e.getMessage());
        }
    }
}
`

// javaExtremesJSON is what javaExtremes writes, as protobuf JSON.
const javaExtremesJSON = `{
  "i32": -2147483648, "s32": -2147483648, "sf32": -2147483648, "u32": 4294967295, "f32": 4294967295,
  "i64": "-9223372036854775808", "s64": "-9223372036854775808", "sf64": "-9223372036854775808",
  "u64": "18446744073709551615", "f64": "18446744073709551615",
  "fl": "-0", "db": "Infinity", "text": "\u0000",
  "nums": [2147483647, -2147483648, 0], "snums": ["9223372036854775807", "-9223372036854775808"],
  "parts": [{"name": "\ud83d\ude00"}],
  "byId": {"-2147483648": "", "2147483647": "\ud83d\ude00"},
  "byFlag": {"false": "COLOR_UNSPECIFIED", "true": "COLOR_BLUE"},
  "weights": {"0": 1.7976931348623157e308, "9223372036854775808": 5e-324, "9223372036854775807": "-Infinity"},
  "at": "1969-12-31T23:59:59.999999999Z", "took": "-0.000000001s",
  "maybe": 0, "note": "", "number": "9223372036854775807", "negative": -2147483648
}`

// javaEdgesJSON is the second message of javaExtremes: the last Timestamp
// and the most negative Duration protobuf carries.
const javaEdgesJSON = `{"parts": [{"name": "e"}], "at": "9999-12-31T23:59:59.999999999Z", "took": "-315576000000s"}`

// TestJavaLangpackWire: the Java langpack writes every field kind as the
// protobuf Go runtime reads it: the kitchen sink (with the proto3 optional
// note unset, so absent), the extremes of every kind (note set to "", so
// present; -0.0 kept; unsigned maxima from Java's -1), and Timestamp and
// Duration normalized; a time protobuf cannot carry throws, and fails
// validation so a sender sends nothing.
func TestJavaLangpackWire(t *testing.T) {
	javac := tool(t, "javac", "apt-get install default-jdk-headless")
	java := tool(t, "java", "apt-get install default-jdk-headless")
	in, md := kitchenSinkInput(t)
	p, dir := generateInto(t, langpack.Java, in)
	sources := []string{"Sink.java", "Extremes.java"}
	for _, f := range p.Files {
		if strings.HasSuffix(f.Path, ".java") {
			sources = append(sources, f.Path)
		}
	}
	for name, src := range map[string]string{"Sink.java": javaSink, "Extremes.java": javaExtremes} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run(t, dir, nil, javac, append([]string{"--release", "8", "-encoding", "UTF-8", "-cp", "classes", "-d", "classes"}, sources...)...)
	out := run(t, dir, nil, java, "-cp", "classes", "Sink", "sink.bin")
	if want := "invalid: KitchenSinkV1 (event 7001 v1): required field parts[1].name is not set"; !strings.Contains(out, want) {
		t.Errorf("java output lacks %q:\n%s", want, out)
	}
	out = run(t, dir, nil, java, "-cp", "classes", "Extremes", "extremes.bin", "edges.bin")
	for _, want := range []string{
		"range: field at: +10000-01-01T00:00:00Z is outside the range of google.protobuf.Timestamp",
		"range: field took: PT87660000H1S is outside the range of google.protobuf.Duration",
		"not sent: KitchenSinkV1 (event 7001 v1): field at: -0001-12-31T23:59:59Z is outside the range of google.protobuf.Timestamp",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("java output lacks %q:\n%s", want, out)
		}
	}
	note := md.Fields().ByName("note")
	for _, c := range []struct {
		file, json string
		note       bool
	}{
		{"sink.bin", kitchenSinkJSON, false},
		{"extremes.bin", javaExtremesJSON, true},
		{"edges.bin", javaEdgesJSON, false},
	} {
		data, err := os.ReadFile(filepath.Join(dir, c.file))
		if err != nil {
			t.Fatal(err)
		}
		got, want := dynamicpb.NewMessage(md), dynamicpb.NewMessage(md)
		if err := proto.Unmarshal(data, got); err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		if err := protojson.Unmarshal([]byte(c.json), want); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(got, want) {
			g, _ := protojson.Marshal(got)
			w, _ := protojson.Marshal(want)
			t.Errorf("%s: the Java bytes decode as\n%s\nwant\n%s", c.file, g, w)
		}
		if got.Has(note) != c.note {
			t.Errorf("%s: note present = %v, want %v (proto3 optional presence)", c.file, got.Has(note), c.note)
		}
		fields := 0
		got.Range(func(protoreflect.FieldDescriptor, protoreflect.Value) bool { fields++; return true })
		t.Logf("%s: %d bytes, %d fields set, checked against its protobuf JSON", c.file, len(data), fields)
	}
}

// TestJavaRuntimeCompiles: the runtime files compile as they are, for Java
// 8, with every lint on and nothing on the classpath.
func TestJavaRuntimeCompiles(t *testing.T) {
	javac := tool(t, "javac", "apt-get install default-jdk-headless")
	sources, err := filepath.Glob(filepath.Join("runtime", "java", "*.java"))
	if err != nil || len(sources) == 0 {
		t.Fatalf("no runtime/java/*.java (%v)", err)
	}
	out := t.TempDir()
	run(t, ".", nil, javac, append([]string{"--release", "8", "-Xlint:all,-options", "-Werror", "-encoding", "UTF-8", "-cp", out, "-d", out}, sources...)...)
	classes, _ := filepath.Glob(filepath.Join(out, "dev", "clickstream", "runtime", "*.class"))
	t.Logf("javac compiled %d runtime files into %d classes", len(sources), len(classes))
	if len(classes) < len(sources) {
		t.Errorf("%d classes from %d sources", len(classes), len(sources))
	}
}
