package langpack

import (
	"strings"
	"testing"
)

func TestPrinterIndentsAndDocuments(t *testing.T) {
	p := newPrinter("    ")
	p.Doc(javadocComment, "Sends <b>views</b>.\nSee {@code x} */ and \\u0041.", "@deprecated use V2")
	p.Block("class A {", func() {
		p.P("int x;", " // ", 1)
		p.P()
		p.Block("void f() {", func() { p.P("a();\nb();") }, "}")
	}, "}")
	p.Doc(tsdocComment, "one line")
	p.Doc(csharpComment, "")
	want := `/**
 * Sends &lt;b&gt;views&lt;/b&gt;.
 * See {&#64;code x} * / and \\u0041.
 *
 * @deprecated use V2
 */
class A {
    int x; // 1

    void f() {
        a();
        b();
    }
}
/** one line */
`
	if got := string(p.Bytes()); got != want {
		t.Fatalf("printed:\n%s\nwant:\n%s", got, want)
	}
}

func TestPrinterOutWithoutInPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Out at depth 0 did not panic")
		}
	}()
	newPrinter("\t").Out()
}

func TestQuotedLiterals(t *testing.T) {
	s := "a\"b\\c\nd\x01é😀"
	for _, c := range []struct {
		name  string
		style literalStyle
		want  string
	}{
		{"utf16", utf16Literal, `"a\"b\\c\nd\u0001\u00e9\ud83d\ude00"`},
		{"swift", swiftLiteral, `"a\"b\\c\nd\u{1}é😀"`},
		{"python", pythonLiteral, `"a\"b\\c\nd\x01\xe9\U0001f600"`},
	} {
		if got := quoted(s, c.style); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
	if got := singleQuoted(`it's \ ok`); got != `'it\'s \\ ok'` {
		t.Errorf("single quoted: %s", got)
	}
	if strings.Contains(quoted("x", utf16Literal), "\\") {
		t.Error("plain ASCII escaped")
	}
}
