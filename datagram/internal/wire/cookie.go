package wire

// CookieReplySize is the size of a cookie reply datagram.
const CookieReplySize = HeaderSize + 8 + 8 + CookieSize

// CookieReply is a server's answer to a client's first fragment that carried
// no valid cookie (kind 0x03). The server has no session yet, so the
// receiver and sender ids are both 0; Echo repeats the client's sender id so
// that the client can match the reply to its session.
type CookieReply struct {
	// Receiver is always 0.
	Receiver uint64
	// Sender is always 0.
	Sender uint64
	// Echo is the client's session id, from the fragment's sender id.
	Echo uint64
	// Cookie is the cookie the client must send back.
	Cookie [CookieSize]byte
}

// Append appends the encoding of c to b. It writes the ids as given; the
// parser accepts only zero Receiver and Sender.
func (c *CookieReply) Append(b []byte) []byte {
	b = appendHeader(b, KindCookie, c.Receiver)
	b = le.AppendUint64(b, c.Sender)
	b = le.AppendUint64(b, c.Echo)
	return append(b, c.Cookie[:]...)
}

// ParseCookieReply parses a cookie reply datagram.
func ParseCookieReply(b []byte) (CookieReply, error) {
	_, recv, err := header(b, KindCookie)
	if err != nil {
		return CookieReply{}, err
	}
	if len(b) != CookieReplySize {
		if len(b) < CookieReplySize {
			return CookieReply{}, ErrShort
		}
		return CookieReply{}, ErrLength
	}
	c := CookieReply{Receiver: recv, Sender: le.Uint64(b[10:18]), Echo: le.Uint64(b[18:26])}
	if c.Receiver != 0 || c.Sender != 0 {
		return CookieReply{}, ErrNonZeroID
	}
	copy(c.Cookie[:], b[26:])
	return c, nil
}
