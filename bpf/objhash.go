package bpf

import (
	"crypto/sha256"
	"encoding/hex"
	"sync"
)

// ClassifierObjectHash is a digest of the embedded classifier object: a
// re-apply that finds the same digest (and knobs) recorded for a hook can
// keep the program that runs there instead of loading it again.
var ClassifierObjectHash = sync.OnceValue(func() string {
	sum := sha256.Sum256(_ClassifierBytes)
	return hex.EncodeToString(sum[:16])
})
