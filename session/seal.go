package session

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"unsafe"
)

// Some apps' "remember me" cookie is the same value for every login of a
// user (an HMAC of a per-user token), unchanged by their logout: revoking
// it would end remember-me for all of the user's later logins, and not
// revoking it leaves a copy working. A Sealer replaces each value the app
// sets with a sealed one of the gateway's own (AES-256-GCM, a fresh random
// nonce per issuance, the cookie's name as associated data), so each
// login's copy is distinct and revocable alone, and opens it again on the
// way in so the app sees its own value.
//
// A sealed value is "s1." followed by base64url (no padding) of: the
// sealing key's 4-byte id (a hash of the derived key, so that a rotation
// keeps old values opening with one AEAD open), the 12-byte nonce, the
// ciphertext and the 16-byte tag.

// sealPrefix marks a sealed value (and its format version).
const sealPrefix = "s1."

// sealEncoding is strict, and Open checks the length, so a sealed value has
// exactly one spelling: the guard revokes it by its text, and a lenient
// decoder (ignoring the unused bits of the last character, skipping CR and
// LF) would open respellings of a revoked value, each a new credential.
var sealEncoding = base64.RawURLEncoding.Strict()

// SealOverhead is how many bytes sealing adds to a value of n bytes: the
// prefix, and base64 of the key index, nonce and tag around the value.
func SealOverhead(n int) int {
	return len(sealPrefix) + sealEncoding.EncodedLen(keyIDSize+12+n+16) - n
}

// MaxSealedValue is the longest value a Sealer seals: a sealed value must
// stay within the 4096 bytes browsers keep per cookie (name included), so
// a longer app value is refused rather than sealed into a cookie a
// browser would drop.
const MaxSealedValue = 2900

// ErrNotSealed is returned by Open for a value that is not one of ours.
var ErrNotSealed = errors.New("cookie value is not sealed by this gateway")

// ErrSealTooLong is returned by Seal for a value over MaxSealedValue.
var ErrSealTooLong = fmt.Errorf("cookie value longer than %d bytes cannot be sealed within the browsers' 4 KB limit", MaxSealedValue)

// Sealer seals and opens cookie values. The first key seals; every key
// opens, so keys rotate like signing keys.
type Sealer struct {
	keys []sealKey
}

type sealKey struct {
	id   [keyIDSize]byte
	aead cipher.AEAD
}

const keyIDSize = 4

// NewSealer derives one AES-256-GCM key from each key given (HKDF-SHA256,
// so a signing key can be reused for sealing without the two uses ever
// meeting). At least one key, each at least MinKeyLength bytes.
func NewSealer(keys ...[]byte) (*Sealer, error) {
	if len(keys) == 0 {
		return nil, errors.New("seal: expected at least one key")
	}
	s := &Sealer{}
	for i, k := range keys {
		if len(k) < MinKeyLength {
			return nil, fmt.Errorf("seal key #%d must be at least %d bytes (got %d)", i+1, MinKeyLength, len(k))
		}
		derived, err := hkdf.Key(sha256.New, k, nil, "caddy-logout cookie seal v1", 32)
		if err != nil {
			return nil, err
		}
		block, err := aes.NewCipher(derived)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		k := sealKey{aead: aead}
		sum := sha256.Sum256(derived)
		copy(k.id[:], sum[:])
		s.keys = append(s.keys, k)
	}
	return s, nil
}

// Seal returns a sealed form of value for the cookie name, with the first
// key and a fresh nonce: sealing the same value twice gives two values.
func (s *Sealer) Seal(name, value string) (string, error) {
	if len(value) > MaxSealedValue {
		return "", ErrSealTooLong
	}
	k := s.keys[0]
	ns := k.aead.NonceSize()
	raw := make([]byte, keyIDSize+ns, keyIDSize+ns+len(value)+k.aead.Overhead())
	copy(raw, k.id[:])
	if _, err := rand.Read(raw[keyIDSize:]); err != nil {
		return "", err
	}
	raw = k.aead.Seal(raw, raw[keyIDSize:keyIDSize+ns], []byte(value), []byte(name))
	return sealPrefix + sealEncoding.EncodeToString(raw), nil
}

// Open appends to dst the app's value inside a sealed value for the cookie
// name. With a dst of enough capacity (the value is shorter than the sealed
// form) it does not allocate: the sealed value is decoded and opened in
// place in a pooled buffer. A raw app value, a forgery, a value sealed for
// another cookie name or with a key no longer configured gives
// ErrNotSealed.
func (s *Sealer) Open(dst []byte, name, sealed string) ([]byte, error) {
	if !IsSealed(sealed) {
		return nil, ErrNotSealed
	}
	enc := sealed[len(sealPrefix):]
	if sealEncoding.DecodedLen(len(enc)) > sealBufSize {
		return nil, ErrNotSealed
	}
	buf := sealBufs.Get().(*[sealBufSize]byte)
	defer sealBufs.Put(buf)
	// The decoder and the AEAD only read their inputs: the string's bytes
	// are handed to them without a copy.
	n, err := sealEncoding.Decode(buf[:], unsafe.Slice(unsafe.StringData(enc), len(enc)))
	if err != nil || n < keyIDSize+12+16 || sealEncoding.EncodedLen(n) != len(enc) {
		return nil, ErrNotSealed
	}
	var aead cipher.AEAD
	for _, k := range s.keys {
		if [keyIDSize]byte(buf[:keyIDSize]) == k.id {
			aead = k.aead
			break
		}
	}
	if aead == nil {
		return nil, ErrNotSealed // sealed with a key no longer configured
	}
	ns := aead.NonceSize()
	ct := buf[keyIDSize+ns : n]
	plain, err := aead.Open(ct[:0], buf[keyIDSize:keyIDSize+ns], ct, unsafe.Slice(unsafe.StringData(name), len(name)))
	if err != nil {
		return nil, ErrNotSealed
	}
	return append(dst, plain...), nil
}

// sealBufSize holds any sealed value a browser can send (4 KB a cookie).
const sealBufSize = 4096

var sealBufs = sync.Pool{New: func() any { return new([sealBufSize]byte) }}

// IsSealed reports whether a value has the sealed form (not whether it
// opens).
func IsSealed(value string) bool {
	return len(value) > len(sealPrefix) && value[:len(sealPrefix)] == sealPrefix
}

// Sealer is a Sealer on the signing keys, for a seal without keys of its
// own: the first key seals, every key opens. HKDF keeps the two uses of a
// key apart.
func (k *Keys) Sealer() (*Sealer, error) { return NewSealer(k.keys...) }
