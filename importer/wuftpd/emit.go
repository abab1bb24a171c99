package wuftpd

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Status says how one directive or flag came over.
type Status string

// The statuses of a report line.
const (
	// Mapped: tunnelftpd does the same.
	Mapped Status = "mapped"
	// Note: nothing to carry over, or nothing changes; information for the admin.
	Note Status = "note"
	// Narrowed: tunnelftpd allows less than wu-ftpd did (a refusal more, a feature gone), never
	// more.
	Narrowed Status = "narrowed"
	// Lost: the directive's effect is gone and that may let someone do or see more, or the
	// importer cannot tell; the explanation says what to do.
	Lost Status = "lost"
)

// Finding is one report line.
type Finding struct {
	File      string
	Line      int
	Directive string
	Status    Status
	Text      string
}

// String formats the finding as FILE:LINE: directive: status: explanation.
func (f Finding) String() string {
	return fmt.Sprintf("%s:%d: %s: %s: %s", f.File, f.Line, f.Directive, f.Status, f.Text)
}

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func tomlStrings(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = tomlString(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// kv is one key of the output, its TOML value and the comment above it.
type kv struct {
	key, value, comment string
}

// config is the TOML the importer writes: the tables in a fixed order, keys in the order set.
type config struct {
	header  []string
	tables  map[string][]kv
	classes []classOut
	rules   []rule
}

// tableOrder: top-level keys first (TOML needs them before any table), then the tables.
var tableOrder = []string{"", "passive", "log", "auth", "messages"}

func newConfig() *config { return &config{tables: map[string][]kv{}} }

// set gives key in table a value (already TOML), replacing an earlier one.
func (c *config) set(table, key, value, comment string) {
	for i, e := range c.tables[table] {
		if e.key == key {
			c.tables[table][i] = kv{key, value, comment}
			return
		}
	}
	c.tables[table] = append(c.tables[table], kv{key, value, comment})
}

func (c *config) get(table, key string) (string, bool) {
	for _, e := range c.tables[table] {
		if e.key == key {
			return e.value, true
		}
	}
	return "", false
}

func (c *config) unset(table, key string) {
	var out []kv
	for _, e := range c.tables[table] {
		if e.key != key {
			out = append(out, e)
		}
	}
	c.tables[table] = out
}

func (c *config) setString(table, key, value, comment string) {
	c.set(table, key, tomlString(value), comment)
}

func (c *config) setInt(table, key string, v int, comment string) {
	c.set(table, key, strconv.Itoa(v), comment)
}

func (c *config) setBool(table, key string, v bool, comment string) {
	c.set(table, key, strconv.FormatBool(v), comment)
}

// classOut is one [[classes]] entry.
type classOut struct {
	Name        string
	Who         []string
	Clients     []string
	MaxSessions int // 0: not written
	FullMessage string
	DenyClients []string
	Comment     string
}

// where names the source lines of directives for a comment: "ftpaccess:3, ftpaccess:9".
func where(ds []*directive) string {
	var s []string
	seen := map[string]bool{}
	sorted := append([]*directive{}, ds...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Line < sorted[j].Line })
	for _, d := range sorted {
		w := fmt.Sprintf("%s:%d", d.File, d.Line)
		if !seen[w] {
			seen[w] = true
			s = append(s, w)
		}
	}
	return strings.Join(s, ", ")
}

func writeComment(b *strings.Builder, comment string) {
	for _, l := range strings.Split(comment, "\n") {
		if l == "" {
			continue
		}
		b.WriteString("# " + l + "\n")
	}
}

// render writes the config as TOML text.
func (c *config) render() string {
	var b strings.Builder
	for _, h := range c.header {
		b.WriteString("# " + h + "\n")
	}
	for _, t := range tableOrder {
		keys := c.tables[t]
		if len(keys) == 0 {
			continue
		}
		b.WriteString("\n")
		if t != "" {
			b.WriteString("[" + t + "]\n")
		}
		for _, e := range keys {
			writeComment(&b, e.comment)
			b.WriteString(e.key + " = " + e.value + "\n")
		}
	}
	for _, cl := range c.classes {
		b.WriteString("\n")
		writeComment(&b, cl.Comment)
		b.WriteString("[[classes]]\n")
		b.WriteString("name = " + tomlString(cl.Name) + "\n")
		if len(cl.Who) > 0 {
			b.WriteString("who = " + tomlStrings(cl.Who) + "\n")
		}
		if len(cl.Clients) > 0 {
			b.WriteString("clients = " + tomlStrings(cl.Clients) + "\n")
		}
		if cl.MaxSessions > 0 {
			b.WriteString("max_sessions = " + strconv.Itoa(cl.MaxSessions) + "\n")
		}
		if cl.FullMessage != "" {
			b.WriteString("full_message = " + tomlString(cl.FullMessage) + "\n")
		}
		if len(cl.DenyClients) > 0 {
			b.WriteString("deny_clients = " + tomlStrings(cl.DenyClients) + "\n")
		}
	}
	for _, r := range c.rules {
		b.WriteString("\n")
		comment := r.Note
		if len(r.Origin) > 0 {
			if comment != "" {
				comment += "\n"
			}
			comment += "from " + where(r.Origin)
		}
		writeComment(&b, comment)
		b.WriteString("[[rules]]\n")
		b.WriteString("path = " + tomlString(r.Path) + "\n")
		if len(r.Who) > 0 {
			b.WriteString("who = " + tomlStrings(r.Who) + "\n")
		}
		if r.Rights == 0 {
			b.WriteString("deny = " + tomlStrings(allVerbs.names()) + "\n")
		} else {
			b.WriteString("allow = " + tomlStrings(r.Rights.names()) + "\n")
		}
		if r.Mode != "" {
			b.WriteString("mode = " + tomlString(r.Mode) + "\n")
		}
		if r.Group != "" {
			b.WriteString("group = " + tomlString(r.Group) + "\n")
		}
	}
	return b.String()
}
