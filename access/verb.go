package access

import (
	"fmt"
	"math/bits"
	"strings"
)

// Verb is one kind of operation a rule can allow or deny. Each verb is one bit, so verbs combine
// into [Rights].
type Verb uint16

// The verbs, in the order they are printed. The names are the ones the config file uses.
const (
	List      Verb = 1 << iota // LIST, NLST, MLSD and STAT of a directory
	Retrieve                   // RETR: read a file's content
	Upload                     // STOR or APPE creating a new file
	Overwrite                  // STOR over an existing file, or REST+STOR below its end
	Append                     // APPE to an existing file, or REST+STOR at or past its end
	Delete                     // DELE
	Rename                     // RNFR/RNTO, needed at both the old and the new path
	Mkdir                      // MKD
	Rmdir                      // RMD
	Mfmt                       // MFMT: set a file's modification time
	verbEnd
)

var verbNames = [...]string{"list", "retrieve", "upload", "overwrite", "append", "delete", "rename", "mkdir", "rmdir", "mfmt"}

// VerbNames is the list of every verb name, space separated, for help and error texts.
var VerbNames = strings.Join(verbNames[:], " ")

// String returns the config name of v ("upload"), or "verb(0x…)" if v is not a single verb.
func (v Verb) String() string {
	if v != 0 && v < verbEnd && v&(v-1) == 0 {
		return verbNames[bits.TrailingZeros16(uint16(v))]
	}
	return fmt.Sprintf("verb(%#x)", uint16(v))
}

// ParseVerb returns the verb called name, exactly as the config file spells it.
func ParseVerb(name string) (Verb, bool) {
	for i, n := range verbNames {
		if n == name {
			return Verb(1) << i, true
		}
	}
	return 0, false
}

// Rights is a set of verbs.
type Rights uint16

const (
	// NoRights allows nothing.
	NoRights Rights = 0
	// AllRights holds every verb.
	AllRights = Rights(verbEnd - 1)
	// ReadRights are the verbs that change nothing: list and retrieve. They are the default
	// rights of anonymous and read_only users, and the most a read_only user ever gets.
	ReadRights = Rights(List | Retrieve)
	// WriteRights are every verb that creates, changes or removes something.
	WriteRights = AllRights &^ ReadRights
)

// Has reports whether r holds v.
func (r Rights) Has(v Verb) bool { return r&Rights(v) != 0 }

// String lists the verbs of r in the canonical order, space separated; "none" if r is empty and
// "all" if it holds every verb.
func (r Rights) String() string {
	switch r & AllRights {
	case NoRights:
		return "none"
	case AllRights:
		return "all"
	}
	var b strings.Builder
	for i, n := range verbNames {
		if r&(1<<i) != 0 {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(n)
		}
	}
	return b.String()
}

// ParseRights reads a list of verb names (a rule's allow or deny). The error names the first
// unknown verb and lists the known ones.
func ParseRights(names []string) (Rights, error) {
	var r Rights
	for _, n := range names {
		v, ok := ParseVerb(n)
		if !ok {
			return r, fmt.Errorf("unknown verb %q (verbs: %s)", n, VerbNames)
		}
		r |= Rights(v)
	}
	return r, nil
}
