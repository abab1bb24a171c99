package config

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
)

// SeeKeys is where an error message sends the operator for the list of
// keys: places that exist on an installed system, not in a checkout.
const SeeKeys = "'tunnelftpd check --sample' prints every key with its documentation; man 5 tunnelftpd.toml"

// keyKind says what a schema key holds, for messages in plain words.
type keyKind int

const (
	kindValue     keyKind = iota // a string, number, boolean or duration
	kindTable                    // [section]
	kindTableList                // [[section]], one table per entry
)

// schemaKey is one key of the schema: its TOML path and what it holds.
type schemaKey struct {
	kind keyKind
	typ  reflect.Type // the Go type decoded into (kindValue)
}

var (
	schemaOnce sync.Once
	schema     map[string]schemaKey // "passive.ports", "users", "users.name", ...
)

// schemaKeys walks Config's toml tags once and returns every key path.
func schemaKeys() map[string]schemaKey {
	schemaOnce.Do(func() {
		schema = map[string]schemaKey{}
		walkSchema(reflect.TypeOf(Config{}), "")
	})
	return schema
}

var durationType = reflect.TypeOf(Duration{})

func walkSchema(t reflect.Type, prefix string) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("toml"), ",")[0]
		if tag == "" || tag == "-" || !f.IsExported() {
			continue
		}
		path := prefix + tag
		ft := f.Type
		switch {
		case ft == durationType:
			schema[path] = schemaKey{kind: kindValue, typ: ft}
		case ft.Kind() == reflect.Struct:
			schema[path] = schemaKey{kind: kindTable}
			walkSchema(ft, path+".")
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			schema[path] = schemaKey{kind: kindTableList}
			walkSchema(ft.Elem(), path+".")
		default:
			schema[path] = schemaKey{kind: kindValue, typ: ft}
		}
	}
}

// unknownKeyMsg explains an undecoded key: most often a key written under
// the wrong header (a top-level key after [[users]] belongs to that user as
// far as TOML is concerned), else a typo.
func unknownKeyMsg(key string, idx lineIndex) string {
	keys := schemaKeys()
	parts := strings.Split(key, ".")
	last := parts[len(parts)-1]
	if len(parts) > 1 {
		section := strings.Join(parts[:len(parts)-1], ".")
		header := "[" + section + "]"
		if keys[section].kind == kindTableList {
			header = "[[" + section + "]]"
		}
		// The key exists at the top level: it was written after a header.
		if k, ok := keys[last]; ok && k.kind == kindValue {
			return fmt.Sprintf("%q is a top-level key, but it stands after %s, so TOML reads it as part of that section; move it above the first [section] or [[users]] line of the file", last, header)
		}
		// It exists in another section.
		for path, k := range keys {
			if k.kind == kindValue && strings.HasSuffix(path, "."+last) && path != key {
				owner := strings.TrimSuffix(path, "."+last)
				return fmt.Sprintf("unknown key: %s has no %q; %q is a key of [%s]: move it under that header", header, last, last, owner)
			}
		}
	}
	what := "unknown key"
	if _, section := idx["["+key+"]"]; section {
		what = "unknown key: there is no section [" + key + "]"
	}
	if near := nearestKey(key, keys); near != "" {
		return fmt.Sprintf("%s; did you mean %q? (%s)", what, near, SeeKeys)
	}
	return what + " (" + SeeKeys + ")"
}

// nearestKey is the schema key within two edits of key, in the same section.
func nearestKey(key string, keys map[string]schemaKey) string {
	best, bestD := "", 3
	for path := range keys {
		if d := editDistance(key, path); d < bestD || (d == bestD && path < best) {
			best, bestD = path, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// plainDecodeMsg rewrites the TOML library's message for a decode error at
// key into plain words with the fix; other messages are returned as they
// are.
func plainDecodeMsg(key, msg string) string {
	keys := schemaKeys()
	k, known := keys[key]
	switch {
	case strings.Contains(msg, "incompatible types") && known && k.kind == kindTableList:
		return fmt.Sprintf("%s is a list of tables: write [[%s]] (two brackets) above each entry, not [%s]", key, key, key)
	case strings.Contains(msg, "incompatible types") && known && k.kind == kindTable:
		return fmt.Sprintf("%s is a section: write it as a [%s] header with its keys below, not as %s = ...", key, key, key)
	case strings.Contains(msg, "incompatible types") && known:
		return fmt.Sprintf("%s must be %s", key, describeType(k.typ))
	case strings.Contains(msg, "invalid datetime") || strings.Contains(msg, "expected a newline") ||
		(known && k.kind == kindValue && k.typ.Kind() == reflect.String &&
			(strings.Contains(msg, "Invalid float") || strings.Contains(msg, "Invalid integer"))):
		// 22000-22004 or 127.0.0.1:21 without quotes look like a date or
		// a broken number to TOML.
		return fmt.Sprintf("this value must be quoted: %s = \"...\" (a port range, address or duration is a string in double quotes)", lastPart(key))
	case strings.Contains(msg, "was already created and cannot be used as an array"):
		return "a section is written both as [name] and as [[name]]: a list of tables (users, rules, classes) takes [[name]] above every entry"
	case strings.Contains(msg, "strings cannot contain newlines"):
		return "a string is not closed: add the missing \" at the end of the line"
	}
	return msg
}

func lastPart(key string) string {
	if i := strings.LastIndex(key, "."); i >= 0 {
		return key[i+1:]
	}
	if key == "" {
		return "key"
	}
	return key
}

// describeType names the value a Go type wants, as the sample config
// writes it.
func describeType(t reflect.Type) string {
	if t == durationType {
		return `a duration in quotes, e.g. "30s", "5m" or "1h"`
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false (no quotes)"
	case reflect.Int, reflect.Int64, reflect.Uint, reflect.Uint32:
		return "a whole number (no quotes)"
	case reflect.String:
		return `a string in double quotes`
	case reflect.Slice:
		return `a list in brackets, e.g. ["a", "b"]`
	}
	return "a " + t.String()
}
