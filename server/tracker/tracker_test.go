package tracker

import "testing"

// TestReplyContinues: the last complete line of a write decides whether a multi-line reply is
// still open (the shutdown notice goes before the first line of a reply only).
func TestReplyContinues(t *testing.T) {
	for _, tc := range []struct {
		b    string
		want bool
	}{
		{"200 NOOP ok\r\n", false},
		{"211-Features:\r\n", true},
		{" MLST size*;\r\n", true},
		{"211-Features:\r\n MDTM\r\n211 End\r\n", false},
		{"211-Features:\r\n MDTM\r\n", true},
		{"211 End", false},
	} {
		if got := replyContinues([]byte(tc.b)); got != tc.want {
			t.Errorf("replyContinues(%q) = %v, want %v", tc.b, got, tc.want)
		}
	}
}
