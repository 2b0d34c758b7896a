package wire

// Fragment flag bits.
const (
	// FlagCookie says a CookieSize-byte cookie follows the fixed fields.
	FlagCookie = 0x01
	// FlagKeyID says a KeyIDSize-byte initiator key id follows (after the
	// cookie, if any).
	FlagKeyID = 0x02
)

// fragmentFixed is the size of a fragment's fixed fields, common header
// included: sender id (8), message index (1), message length (4), fragment
// offset (4), flags (1).
const fragmentFixed = HeaderSize + 8 + 1 + 4 + 4 + 1

// FragmentOverhead returns the envelope bytes in front of a fragment's data,
// with or without a cookie and an initiator key id.
func FragmentOverhead(cookie, keyID bool) int {
	n := fragmentFixed
	if cookie {
		n += CookieSize
	}
	if keyID {
		n += KeyIDSize
	}
	return n
}

// Fragment is a handshake-message fragment (kind 0x01): bytes
// [Offset, Offset+len(Data)) of handshake message Message, whose whole
// length is Length.
type Fragment struct {
	// Receiver is the receiver's session id (0 in a client's first flight).
	Receiver uint64
	// Sender is the sender's session id.
	Sender uint64
	// Message is the handshake message index, 0..MaxMessageIndex.
	Message uint8
	// Length is the length of the whole handshake message.
	Length uint32
	// Offset is the offset of Data in the message.
	Offset uint32
	// Cookie is nil, or the CookieSize-byte cookie (message 0 only).
	Cookie []byte
	// InitiatorKeyID is nil, or the QSMD initiator's key id (message 0
	// only).
	InitiatorKeyID *[KeyIDSize]byte
	// Data is the fragment's part of the message; not empty.
	Data []byte
}

// Validate reports whether f can be encoded and parsed back: a known message
// index, a cookie of CookieSize bytes or none, cookie and key id on message 0
// only, and non-empty data lying inside the message.
func (f *Fragment) Validate() error {
	if f.Message > MaxMessageIndex {
		return ErrMessageIndex
	}
	if len(f.Cookie) != 0 && len(f.Cookie) != CookieSize {
		return ErrFlags
	}
	if f.Message != 0 && (len(f.Cookie) != 0 || f.InitiatorKeyID != nil) {
		return ErrFlags
	}
	if len(f.Data) == 0 || uint64(f.Offset)+uint64(len(f.Data)) > uint64(f.Length) {
		return ErrFragment
	}
	return nil
}

// Size returns the encoded size of f.
func (f *Fragment) Size() int {
	return FragmentOverhead(len(f.Cookie) != 0, f.InitiatorKeyID != nil) + len(f.Data)
}

// Append appends the encoding of f to b. It does not check f (see Validate):
// a non-empty Cookie is written as exactly CookieSize bytes (truncated or
// zero-padded), so that the output always has the declared layout.
func (f *Fragment) Append(b []byte) []byte {
	var flags byte
	if len(f.Cookie) != 0 {
		flags |= FlagCookie
	}
	if f.InitiatorKeyID != nil {
		flags |= FlagKeyID
	}
	b = appendHeader(b, KindFragment, f.Receiver)
	b = le.AppendUint64(b, f.Sender)
	b = append(b, f.Message)
	b = le.AppendUint32(b, f.Length)
	b = le.AppendUint32(b, f.Offset)
	b = append(b, flags)
	if flags&FlagCookie != 0 {
		var c [CookieSize]byte
		copy(c[:], f.Cookie)
		b = append(b, c[:]...)
	}
	if f.InitiatorKeyID != nil {
		b = append(b, f.InitiatorKeyID[:]...)
	}
	return append(b, f.Data...)
}

// ParseFragment parses a fragment datagram. Cookie, InitiatorKeyID and Data
// alias b.
func ParseFragment(b []byte) (Fragment, error) {
	_, recv, err := header(b, KindFragment)
	if err != nil {
		return Fragment{}, err
	}
	if len(b) < fragmentFixed {
		return Fragment{}, ErrShort
	}
	f := Fragment{
		Receiver: recv,
		Sender:   le.Uint64(b[10:18]),
		Message:  b[18],
		Length:   le.Uint32(b[19:23]),
		Offset:   le.Uint32(b[23:27]),
	}
	flags := b[27]
	if f.Message > MaxMessageIndex {
		return Fragment{}, ErrMessageIndex
	}
	if flags&^(FlagCookie|FlagKeyID) != 0 || (flags != 0 && f.Message != 0) {
		return Fragment{}, ErrFlags
	}
	rest := b[fragmentFixed:]
	if flags&FlagCookie != 0 {
		if len(rest) < CookieSize {
			return Fragment{}, ErrShort
		}
		f.Cookie = rest[:CookieSize:CookieSize]
		rest = rest[CookieSize:]
	}
	if flags&FlagKeyID != 0 {
		if len(rest) < KeyIDSize {
			return Fragment{}, ErrShort
		}
		f.InitiatorKeyID = (*[KeyIDSize]byte)(rest[:KeyIDSize])
		rest = rest[KeyIDSize:]
	}
	if len(rest) == 0 || uint64(f.Offset)+uint64(len(rest)) > uint64(f.Length) {
		return Fragment{}, ErrFragment
	}
	f.Data = rest
	return f, nil
}
