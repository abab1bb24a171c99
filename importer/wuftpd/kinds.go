package wuftpd

import "strings"

// kind is wu-ftpd's kind of session.
type kind int

const (
	kReal kind = iota
	kGuest
	kAnon
	numKinds
)

var kindNames = [numKinds]string{"real", "guest", "anonymous"}

func (k kind) String() string { return kindNames[k] }

// verbs is a set of the rule verbs of issue 14.
type verbs uint16

const (
	vList verbs = 1 << iota
	vRetrieve
	vUpload
	vOverwrite
	vAppend
	vDelete
	vRename
	vMkdir
	vRmdir
	vMfmt
	numVerbs = 10
)

// verbNames are the verbs in the order issue 14 lists them.
var verbNames = [numVerbs]string{"list", "retrieve", "upload", "overwrite", "append", "delete", "rename", "mkdir", "rmdir", "mfmt"}

const allVerbs verbs = 1<<numVerbs - 1

// defaultAnon and defaultSystem are tunnelftpd's rights when no rule matches (issue 14):
// anonymous may list and retrieve, system users everything.
const (
	defaultAnon   = vList | vRetrieve
	defaultSystem = allVerbs
)

func (v verbs) names() []string {
	var out []string
	for i := 0; i < numVerbs; i++ {
		if v&(1<<i) != 0 {
			out = append(out, verbNames[i])
		}
	}
	return out
}

func (v verbs) String() string {
	if v == 0 {
		return "nothing"
	}
	return strings.Join(v.names(), ", ")
}

// typeMatch is wu-ftpd's type_match(): a typelist matches a kind if it contains the kind's
// keyword anywhere (case-insensitive substring, as strcasestr), and a class if it starts with
// "class=" followed by exactly that class name.
func typeMatch(typelist string, k kind, class string) bool {
	l := strings.ToLower(typelist)
	switch {
	case k == kAnon && strings.Contains(l, "anonymous"),
		k == kGuest && strings.Contains(l, "guest"),
		k == kReal && strings.Contains(l, "real"):
		return true
	}
	return strings.HasPrefix(l, "class=") && strings.EqualFold(typelist[6:], class) && class != ""
}

// typeKinds lists the kinds a typelist names by keyword (the class= form aside).
func typeKinds(typelist string) []kind {
	var out []kind
	for k := kReal; k < numKinds; k++ {
		if typeMatch(typelist, k, "") {
			out = append(out, k)
		}
	}
	return out
}

// kindList formats kinds for the report: "real, guest".
func kindList(ks []kind) string {
	var s []string
	for _, k := range ks {
		s = append(s, k.String())
	}
	return strings.Join(s, ", ")
}
