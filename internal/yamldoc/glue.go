package yamldoc

import (
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// glued undoes a parser mistake: inside a flow collection that is itself
// inside a flow mapping, goccy/go-yaml splits a plain scalar at a ':' that
// is not followed by a space, so `{dst: [fd00::1]}` reads as the mapping
// {fd00: ":1"}. YAML says a ':' is a value indicator only when a space
// (or the end of the value) follows it; a ':' between two characters is
// part of the scalar (an IPv6 address, a URL). A one-pair mapping whose key,
// ':' and value touch is therefore the one scalar "key:value".
func (c *converter) glued(kvs []*ast.MappingValueNode) (*Node, bool) {
	if len(kvs) != 1 || kvs[0].Key == nil || kvs[0].Value == nil {
		return nil, false
	}
	k, colon, v := kvs[0].Key.GetToken(), kvs[0].Start, kvs[0].Value.GetToken()
	if !plain(k) || !plain(v) || colon == nil || colon.Position == nil {
		return nil, false
	}
	kp, cp, vp := k.Position, colon.Position, v.Position
	touching := kp.Line == cp.Line && cp.Line == vp.Line &&
		kp.Column+len([]rune(k.Value)) == cp.Column && cp.Column+1 == vp.Column
	if !touching {
		return nil, false
	}
	return c.scalar(k, TagStr, k.Value+":"+v.Value, nil), true
}

// plain reports whether tk is an unquoted scalar.
func plain(tk *token.Token) bool {
	if tk == nil || tk.Position == nil {
		return false
	}
	switch tk.Type {
	case token.StringType, token.IntegerType, token.BinaryIntegerType, token.OctetIntegerType,
		token.HexIntegerType, token.FloatType, token.BoolType, token.NullType:
		return true
	}
	return false
}
