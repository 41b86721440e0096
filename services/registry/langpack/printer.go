package langpack

import (
	"bytes"
	"fmt"
	"strings"
)

// printer writes generated source a line at a time, the way protoc-gen-go's
// GeneratedFile.P does, and keeps the indentation: P prints one line at the
// current depth, In and Out move the depth, Block prints an opening line, an
// indented body and a closing line. Every language's per-event code goes
// through it, so no generator carries indentation inside its strings.
type printer struct {
	buf   bytes.Buffer
	unit  string // one level of indentation: "    " or "\t"
	depth int
}

// newPrinter returns a printer indenting by unit.
func newPrinter(unit string) *printer { return &printer{unit: unit} }

// P prints its arguments, each formatted with fmt.Sprint and joined without
// separators, as one line at the current depth. With no arguments (or only
// empty ones) it prints an empty line, without trailing spaces. A string
// holding newlines prints as several lines, each indented.
func (p *printer) P(v ...any) {
	var line strings.Builder
	for _, x := range v {
		fmt.Fprint(&line, x)
	}
	for _, l := range strings.Split(line.String(), "\n") {
		if strings.TrimSpace(l) == "" {
			p.buf.WriteByte('\n')
			continue
		}
		p.buf.WriteString(strings.Repeat(p.unit, p.depth))
		p.buf.WriteString(strings.TrimRight(l, " \t"))
		p.buf.WriteByte('\n')
	}
}

// Pf prints one formatted line at the current depth.
func (p *printer) Pf(format string, args ...any) { p.P(fmt.Sprintf(format, args...)) }

// In indents the lines that follow by one more level.
func (p *printer) In() { p.depth++ }

// Out undoes one In.
func (p *printer) Out() {
	if p.depth == 0 {
		panic("langpack printer: Out without In")
	}
	p.depth--
}

// Block prints open, then body one level deeper, then close (when not
// empty): `p.Block("if (x) {", func() { … }, "}")`.
func (p *printer) Block(open string, body func(), close string) {
	p.P(open)
	p.In()
	body()
	p.Out()
	if close != "" {
		p.P(close)
	}
}

// Bytes returns what was printed.
func (p *printer) Bytes() []byte { return p.buf.Bytes() }

// commentStyle is how a language writes a documentation comment.
type commentStyle struct {
	open, line, close string // "/**", " *", " */"; open and close may be empty
	// single, when not empty, is the one-line form: "/** %s */".
	single string
	// escape makes catalogue text safe inside the comment.
	escape func(string) string
}

// The comment styles of the langpack languages.
var (
	// javadocComment is Java's Javadoc: "*/" is broken and "\u" escaped,
	// which javac would read as a Unicode escape even in a comment; HTML
	// and "@" are escaped.
	javadocComment = commentStyle{open: "/**", line: " *", close: " */", escape: func(s string) string {
		s = strings.ReplaceAll(strings.ReplaceAll(s, "*/", "* /"), `\u`, `\\u`)
		return javadocEscaper.Replace(s)
	}}
	// phpdocComment is PHP's (and TSDoc's multi-line) /** … */ block.
	phpdocComment = commentStyle{open: "/**", line: " *", close: " */", escape: breakCommentEnd}
	// tsdocComment is TSDoc: one line when the text is one line.
	tsdocComment = commentStyle{open: "/**", line: " *", close: " */", single: "/** %s */", escape: breakCommentEnd}
	// csharpComment is C#'s XML documentation in a summary element.
	csharpComment = commentStyle{open: "/// <summary>", line: "///", close: "/// </summary>", escape: xmlTextEscaper.Replace}
	// swiftComment is Swift's /// markup.
	swiftComment = commentStyle{line: "///", escape: func(s string) string { return s }}
	// hashComment is a run of # lines (Python, shell, TOML).
	hashComment = commentStyle{line: "#", escape: func(s string) string { return s }}
)

// The escapers are built once: a strings.Replacer allocates its tables on
// first use, and the generators document every field of a catalogue.
var (
	javadocEscaper     = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "@", "&#64;")
	xmlTextEscaper     = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
	singleQuoteEscaper = strings.NewReplacer(`\`, `\\`, `'`, `\'`)
)

func breakCommentEnd(s string) string { return strings.ReplaceAll(s, "*/", "* /") }

// Doc prints text as a documentation comment in style, followed by tags
// (e.g. "@deprecated …") after an empty comment line. Nothing is printed
// when text and tags are empty.
func (p *printer) Doc(style commentStyle, text string, tags ...string) {
	text = strings.TrimSpace(style.escape(text))
	var lines []string
	if text != "" {
		lines = strings.Split(text, "\n")
	}
	for _, t := range tags {
		if len(lines) > 0 {
			lines = append(lines, "")
		}
		lines = append(lines, t) // written by the generator, not catalogue text
	}
	if len(lines) == 0 {
		return
	}
	if style.single != "" && len(lines) == 1 {
		p.Pf(style.single, lines[0])
		return
	}
	if style.open != "" {
		p.P(style.open)
	}
	for _, l := range lines {
		p.P(style.line, strings.TrimRight(" "+l, " "))
	}
	if style.close != "" {
		p.P(style.close)
	}
}

// literalStyle is how a language writes a double-quoted string literal:
// quote and backslash are escaped with a backslash, newline as \n, and any
// other rune escape says so (ok) is written as it returns.
type literalStyle func(r rune) (string, bool)

// The string literal styles of the langpack languages.
var (
	// utf16Literal escapes controls and everything outside ASCII as \uXXXX
	// UTF-16 units (Java, C#, TypeScript), so a source file is ASCII.
	utf16Literal literalStyle = func(r rune) (string, bool) {
		if r >= 0x20 && r <= 0x7e {
			return "", false
		}
		if r > 0xffff {
			u := utf16Units(r)
			return fmt.Sprintf(`\u%04x\u%04x`, u[0], u[1]), true
		}
		return fmt.Sprintf(`\u%04x`, r), true
	}
	// swiftLiteral escapes controls as \u{X}; the rest is written as is.
	swiftLiteral literalStyle = func(r rune) (string, bool) {
		if r < 0x20 || r == 0x7f {
			return fmt.Sprintf(`\u{%x}`, r), true
		}
		return "", false
	}
	// pythonLiteral escapes controls and non-ASCII as \xXX, \uXXXX or
	// \UXXXXXXXX.
	pythonLiteral literalStyle = func(r rune) (string, bool) {
		switch {
		case r >= 0x20 && r <= 0x7e:
			return "", false
		case r <= 0xff:
			return fmt.Sprintf(`\x%02x`, r), true
		case r <= 0xffff:
			return fmt.Sprintf(`\u%04x`, r), true
		}
		return fmt.Sprintf(`\U%08x`, r), true
	}
)

// quoted is s as a double-quoted string literal in style.
func quoted(s string, style literalStyle) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n':
			b.WriteString(`\n`)
		default:
			if esc, ok := style(r); ok {
				b.WriteString(esc)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// utf16Units is the UTF-16 surrogate pair of a rune above U+FFFF.
func utf16Units(r rune) [2]rune {
	r -= 0x10000
	return [2]rune{0xd800 + (r>>10)&0x3ff, 0xdc00 + r&0x3ff}
}

// singleQuoted is s as a single-quoted literal where only the quote and
// backslash are escaped (PHP).
func singleQuoted(s string) string {
	return "'" + singleQuoteEscaper.Replace(s) + "'"
}
