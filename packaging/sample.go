package packaging

import (
	"fmt"
	"regexp"
	"strings"
)

// Sample is etc/tunnelftpd.toml read as documentation: its tables in file
// order, each with its keys and the comments above them.
type Sample struct {
	Tables []Table
}

// Table is one table of the sample. Name is "" for the top-level keys. A
// commented table ("# [[users]]") is an array of tables shown as an example:
// its keys are commented out too.
type Table struct {
	Name      string
	Array     bool
	Commented bool
	Doc       []Block // the comment right above the table's header
	Keys      []Key
}

// Key is one key of the sample: its value as written there (the default, or
// an example in a commented table) and the comment above it. A key written
// right below another one, with no comment of its own, shares that key's
// comment: SharesDoc is set and Doc is empty.
type Key struct {
	Name      string
	Value     string
	Line      int
	Doc       []Block
	SharesDoc bool
}

// Block is a paragraph of a comment, or (Pre) lines indented by two spaces
// or more, kept as they are laid out.
type Block struct {
	Pre   bool
	Lines []string
}

// Dotted returns the key's name as the README and the config errors write
// it: "listen", "passive.ports", "users.name".
func (t Table) Dotted(k Key) string {
	if t.Name == "" {
		return k.Name
	}
	return t.Name + "." + k.Name
}

var (
	keyLine     = regexp.MustCompile(`^([A-Za-z0-9_]+) = (.+)$`)
	tableLine   = regexp.MustCompile(`^\[([A-Za-z0-9_]+)\]$`)
	arrayLine   = regexp.MustCompile(`^\[\[([A-Za-z0-9_]+)\]\]$`)
	preIndented = regexp.MustCompile(`^  `)
)

// ParseSample reads the sample config. Every key must have a comment (or
// share the one of the key right above it); a line that is neither a
// comment, a table header nor a "key = value" line is an error naming it.
func ParseSample(name string, data []byte) (*Sample, error) {
	s := &Sample{Tables: []Table{{}}}
	var pending []string // comment lines since the last blank line or key
	lastWasKey := false
	seen := map[string]bool{}
	cur := func() *Table { return &s.Tables[len(s.Tables)-1] }
	newTable := func(lineNo int, t Table) error {
		if seen[t.Name] {
			return fmt.Errorf("%s:%d: table %q appears twice", name, lineNo, t.Name)
		}
		seen[t.Name] = true
		t.Doc = blocks(pending)
		s.Tables = append(s.Tables, t)
		pending, lastWasKey = nil, false
		return nil
	}
	addKey := func(lineNo int, m []string) error {
		k := Key{Name: m[1], Value: m[2], Line: lineNo, Doc: blocks(pending)}
		t := cur()
		if len(k.Doc) > 0 && k.Doc[0].Pre {
			return fmt.Errorf("%s:%d: the comment of %s starts with an indented line: start it with a sentence", name, lineNo, t.Dotted(k))
		}
		if len(k.Doc) == 0 {
			if !lastWasKey {
				return fmt.Errorf("%s:%d: %s has no comment: document it in the line above", name, lineNo, t.Dotted(k))
			}
			k.SharesDoc = true
		}
		for _, o := range t.Keys {
			if o.Name == k.Name {
				return fmt.Errorf("%s:%d: %s appears twice", name, lineNo, t.Dotted(k))
			}
		}
		t.Keys = append(t.Keys, k)
		pending, lastWasKey = nil, true
		return nil
	}
	for i, line := range strings.Split(string(data), "\n") {
		lineNo := i + 1
		line = strings.TrimRight(line, " \t\r")
		switch {
		case line == "":
			pending, lastWasKey = nil, false
		case strings.HasPrefix(line, "#"):
			text := strings.TrimPrefix(strings.TrimPrefix(line, "#"), " ")
			if m := arrayLine.FindStringSubmatch(text); m != nil {
				if err := newTable(lineNo, Table{Name: m[1], Array: true, Commented: true}); err != nil {
					return nil, err
				}
				continue
			}
			if m := keyLine.FindStringSubmatch(text); m != nil && cur().Commented {
				if err := addKey(lineNo, m); err != nil {
					return nil, err
				}
				continue
			}
			pending = append(pending, text)
			lastWasKey = false
		case tableLine.MatchString(line):
			if err := newTable(lineNo, Table{Name: tableLine.FindStringSubmatch(line)[1]}); err != nil {
				return nil, err
			}
		case arrayLine.MatchString(line):
			if err := newTable(lineNo, Table{Name: arrayLine.FindStringSubmatch(line)[1], Array: true}); err != nil {
				return nil, err
			}
		case keyLine.MatchString(line):
			if cur().Commented {
				return nil, fmt.Errorf("%s:%d: a key below the commented-out table %q is not commented out", name, lineNo, cur().Name)
			}
			if err := addKey(lineNo, keyLine.FindStringSubmatch(line)); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("%s:%d: neither a comment, a table header nor key = value: %q", name, lineNo, line)
		}
	}
	return s, nil
}

// blocks splits comment lines into paragraphs (at lines that are only "#")
// and runs of indented lines.
func blocks(lines []string) []Block {
	var out []Block
	var cur *Block
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			cur = nil
			continue
		}
		pre := preIndented.MatchString(l)
		if cur == nil || cur.Pre != pre {
			out = append(out, Block{Pre: pre})
			cur = &out[len(out)-1]
		}
		cur.Lines = append(cur.Lines, l)
	}
	return out
}

// Keys returns every key of the sample by its dotted name, in file order.
func (s *Sample) Keys() []string {
	var out []string
	for _, t := range s.Tables {
		for _, k := range t.Keys {
			out = append(out, t.Dotted(k))
		}
	}
	return out
}

// lineWidth is the longest Markdown line Markdown writes where words allow.
const lineWidth = 72

// Markdown renders the keys as go-md2man Markdown: a subsection per table
// and a definition list entry per key (keys that share a comment share an
// entry), the comment's paragraphs as the definition.
func (s *Sample) Markdown() string {
	var b strings.Builder
	for _, t := range s.Tables {
		if len(t.Keys) == 0 {
			continue
		}
		switch {
		case t.Name == "":
			b.WriteString("### Top level\n\n")
		case t.Array:
			fmt.Fprintf(&b, "### [[%s]]\n\n", t.Name)
		default:
			fmt.Fprintf(&b, "### [%s]\n\n", t.Name)
		}
		for _, bl := range t.Doc {
			writeBlock(&b, bl, "")
		}
		if t.Commented {
			b.WriteString(paragraph([]string{"The sample file shows this table commented out: the values below are examples, or the defaults of optional keys."}, "", "", lineWidth) + "\n")
		}
		for i := 0; i < len(t.Keys); {
			j := i + 1
			for j < len(t.Keys) && t.Keys[j].SharesDoc {
				j++
			}
			var terms []string
			for _, k := range t.Keys[i:j] {
				terms = append(terms, "**"+escapeText(k.Name)+"** = "+escapeText(k.Value))
			}
			b.WriteString(strings.Join(terms, ", ") + "\n")
			for n, bl := range t.Keys[i].Doc {
				if n == 0 {
					b.WriteString(paragraph(bl.Lines, ": ", "  ", lineWidth) + "\n")
					continue
				}
				writeBlock(&b, bl, "    ")
			}
			i = j
		}
	}
	return b.String()
}

// writeBlock writes a paragraph, or an indented code block for Pre lines,
// each line prefixed with indent (inside a definition).
func writeBlock(b *strings.Builder, bl Block, indent string) {
	if !bl.Pre {
		b.WriteString(paragraph(bl.Lines, indent, indent, lineWidth) + "\n")
		return
	}
	min := -1
	for _, l := range bl.Lines {
		if n := len(l) - len(strings.TrimLeft(l, " ")); min < 0 || n < min {
			min = n
		}
	}
	for _, l := range bl.Lines {
		b.WriteString(indent + "    " + l[min:] + "\n")
	}
	b.WriteString("\n")
}

// paragraph returns a comment paragraph as Markdown lines of at most width
// columns where words allow (man page lint wants short input lines), the
// first prefixed with first, the others with rest. What Markdown would read
// as markup is escaped, except `code spans`, which the comments use as such
// and which are never split.
func paragraph(lines []string, first, rest string, width int) string {
	var words []string // a code span with spaces is one word
	for _, w := range strings.Fields(strings.Join(lines, " ")) {
		if n := len(words); n > 0 && strings.Count(words[n-1], "`")%2 == 1 {
			words[n-1] += " " + w
			continue
		}
		words = append(words, w)
	}
	var b strings.Builder
	line, prefix := "", first
	flush := func() {
		b.WriteString(prefix + escapeLine(line) + "\n")
		line, prefix = "", rest
	}
	for _, w := range words {
		if line != "" && len(prefix)+len(line)+1+len(w) > width {
			flush()
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	if line != "" {
		flush()
	}
	return b.String()
}

// escapeLine escapes one Markdown line outside its code spans (a line with
// an unpaired backtick has none: the backtick is escaped too).
func escapeLine(line string) string {
	parts := strings.Split(line, "`")
	if len(parts)%2 == 0 {
		return escapeLead(escapeText(line))
	}
	for i := 0; i < len(parts); i += 2 {
		parts[i] = escapeText(parts[i])
	}
	parts[0] = escapeLead(parts[0])
	return strings.Join(parts, "`")
}

var (
	markdownSpecial = regexp.MustCompile("[\\\\`*_\\[\\]<>]")
	markdownLead    = regexp.MustCompile(`^[#+\-:>]`)
	orderedLead     = regexp.MustCompile(`^(\d+)\.`)
)

// escapeText backslash-escapes the emphasis, code, link and HTML characters
// of s for Markdown text.
func escapeText(s string) string {
	return markdownSpecial.ReplaceAllString(s, `\$0`)
}

// escapeLead escapes the start of a line that would make it a heading, a
// list item, a definition or a quote.
func escapeLead(s string) string {
	s = markdownLead.ReplaceAllString(s, `\$0`)
	return orderedLead.ReplaceAllString(s, `$1\.`)
}

// Fill replaces the placeholders of a man page source: @VERSION@, @DATE@
// and, if keys is not "", @KEYS@.
func Fill(page, version, date, keys string) string {
	r := []string{"@VERSION@", version, "@DATE@", date}
	if keys != "" {
		r = append(r, "@KEYS@", keys)
	}
	return strings.NewReplacer(r...).Replace(page)
}
