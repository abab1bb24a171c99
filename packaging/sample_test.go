package packaging

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// sampleKeysByRegexp lists the keys of the sample config the plain way (a
// "key = value" line, commented out or not, below its table header), as a
// check on ParseSample that shares no code with it.
func sampleKeysByRegexp(data []byte) []string {
	header := regexp.MustCompile(`^(?:# )?\[\[?(\w+)\]\]?$`)
	key := regexp.MustCompile(`^(?:# )?(\w+) = `)
	var keys []string
	table := ""
	for _, line := range strings.Split(string(data), "\n") {
		if m := header.FindStringSubmatch(line); m != nil {
			table = m[1] + "."
			continue
		}
		if m := key.FindStringSubmatch(line); m != nil {
			keys = append(keys, table+m[1])
		}
	}
	return keys
}

// TestSampleEveryKeyDocumented: ParseSample finds every key of
// etc/tunnelftpd.toml (the same list a plain scan finds), each with a
// comment of its own or right below a key whose comment covers it.
func TestSampleEveryKeyDocumented(t *testing.T) {
	data, err := os.ReadFile("../etc/tunnelftpd.toml")
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseSample("etc/tunnelftpd.toml", data)
	if err != nil {
		t.Fatal(err)
	}
	got, want := s.Keys(), sampleKeysByRegexp(data)
	if !slices.Equal(got, want) {
		t.Errorf("ParseSample keys:\n%v\nplain scan:\n%v", got, want)
	}
	if len(got) < 30 {
		t.Errorf("only %d keys found in the sample", len(got))
	}
	for _, tb := range s.Tables {
		for _, k := range tb.Keys {
			if len(k.Doc) == 0 && !k.SharesDoc {
				t.Errorf("%s: no comment", tb.Dotted(k))
			}
		}
	}
}

// TestParseSampleErrors: what the man page generator cannot document is an
// error naming the line, not a page with a hole.
func TestParseSampleErrors(t *testing.T) {
	for _, tc := range []struct{ name, text, want string }{
		{"undocumented", "# a\nlisten = 1\n\nbanner = 2\n", `^s:4: banner has no comment`},
		{"undocumented in a table", "[log]\nlevel = 1\n", `^s:2: log\.level has no comment`},
		{"twice", "# a\nx = 1\n# b\nx = 2\n", `^s:4: x appears twice`},
		{"table twice", "[a]\n# c\nx = 1\n[a]\n", `^s:4: table "a" appears twice`},
		{"garbage", "# a\nx = 1\nwhat is this\n", `^s:3: neither a comment`},
		{"indented start", "#   code\nx = 1\n", `^s:2: the comment of x starts with an indented line`},
		{"uncommented below commented table", "# [[users]]\n# n\n# name = 1\nroot = 2\n", `^s:4: a key below the commented-out table "users"`},
	} {
		_, err := ParseSample("s", []byte(tc.text))
		if err == nil || !regexp.MustCompile(tc.want).MatchString(err.Error()) {
			t.Errorf("%s: err %v, want %s", tc.name, err, tc.want)
		}
	}
}

// TestMarkdownFromComments: comment paragraphs become definitions wrapped
// at lineWidth, indented lines code blocks, keys sharing a comment one
// entry; Markdown markup in comments is escaped except `code`.
func TestMarkdownFromComments(t *testing.T) {
	text := `# Top comment, not a key's.

# Where *lines* go: see [log] and x_y_z.
#   "auto"   standard error
#            more
# - not a list, and ` + "`serve --inetd`" + ` stays code.
#
# 1. not a list either.
out = "auto"

# [[users]]
# true: only through ssh_user.
# require = false
# ssh_user = ""
`
	s, err := ParseSample("s", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	md := s.Markdown()
	for _, want := range []string{
		"### Top level\n\n**out** = \"auto\"\n: Where \\*lines\\* go: see \\[log\\] and x\\_y\\_z.\n\n        \"auto\"   standard error\n                 more\n\n",
		"    \\- not a list, and `serve --inetd` stays code.\n\n    1\\. not a list either.\n\n",
		"### [[users]]\n\n",
		"**require** = false, **ssh\\_user** = \"\"\n: true: only through ssh\\_user.\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks\n%q\nin\n%s", want, md)
		}
	}
	if strings.Contains(md, "Top comment") {
		t.Errorf("a comment not above a key was rendered:\n%s", md)
	}
	long := strings.Repeat("word ", 40)
	for _, l := range strings.Split(paragraph([]string{long}, ": ", "  ", lineWidth), "\n") {
		if len(l) > lineWidth {
			t.Errorf("line of %d columns: %q", len(l), l)
		}
	}
	// A code span is never split, and a wrapped line starting with a list
	// marker is escaped.
	p := paragraph([]string{strings.Repeat("x ", 31) + "`a b c d` y"}, "", "", 70)
	if lines := strings.Split(p, "\n"); len(lines) != 3 || lines[1] != "`a b c d` y" {
		t.Errorf("code span split or misplaced: %q", p)
	}
	p = paragraph([]string{strings.Repeat("x ", 35) + "- y"}, "", "", 70)
	if lines := strings.Split(p, "\n"); len(lines) != 3 || lines[1] != `\- y` {
		t.Errorf("list marker at a line start not escaped: %q", p)
	}
}

func TestFill(t *testing.T) {
	got := Fill("# T 8 \"@DATE@\" \"t @VERSION@\"\n@KEYS@\n", "1.2", "2025-01-02", "**k** = 1\n")
	if want := "# T 8 \"2025-01-02\" \"t 1.2\"\n**k** = 1\n\n"; got != want {
		t.Errorf("Fill = %q, want %q", got, want)
	}
}
