package server

import (
	"testing"
	"time"
)

// TestFailureWait: a failed login's 530 comes fail_delay after the PASS
// however long the check took (PAM or not), or at the next multiple of it
// when the check took longer.
func TestFailureWait(t *testing.T) {
	const d = time.Second
	for _, tc := range []struct{ elapsed, delay, want time.Duration }{
		{0, d, d},
		{10 * time.Millisecond, d, 990 * time.Millisecond},
		{999 * time.Millisecond, d, time.Millisecond},
		{d, d, 0},
		{1500 * time.Millisecond, d, 500 * time.Millisecond},
		{300 * time.Millisecond, 0, 0},
	} {
		if got := failureWait(tc.elapsed, tc.delay); got != tc.want {
			t.Errorf("failureWait(%v, %v) = %v, want %v", tc.elapsed, tc.delay, got, tc.want)
		}
	}
}
