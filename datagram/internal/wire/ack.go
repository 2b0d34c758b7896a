package wire

// ackFixed is the size of an ack's fixed fields, common header included:
// sender id (8), message index (1), count of ranges (1).
const ackFixed = HeaderSize + 8 + 1 + 1

// rangeSize is the encoded size of one range: start (4), end (4).
const rangeSize = 8

// Ack acknowledges the byte ranges of handshake message Message that the
// sender of the ack holds (kind 0x02). Ranges are half-open, sorted, and
// neither overlap nor touch; there are 1..MaxAckRanges of them.
type Ack struct {
	// Receiver is the receiver's session id.
	Receiver uint64
	// Sender is the sender's session id.
	Sender uint64
	// Message is the handshake message index, 0..MaxMessageIndex.
	Message uint8
	// Ranges are the byte ranges held, lowest first.
	Ranges []Range
}

// AckSize returns the encoded size of an ack with n ranges.
func AckSize(n int) int { return ackFixed + rangeSize*n }

// Validate reports whether a can be encoded and parsed back.
func (a *Ack) Validate() error {
	if a.Message > MaxMessageIndex {
		return ErrMessageIndex
	}
	return checkRanges(a.Ranges)
}

// checkRanges checks that rs is a canonical range list.
func checkRanges(rs []Range) error {
	if len(rs) == 0 || len(rs) > MaxAckRanges {
		return ErrRanges
	}
	for i, r := range rs {
		if r.Start >= r.End {
			return ErrRanges
		}
		if i > 0 && r.Start <= rs[i-1].End {
			return ErrRanges
		}
	}
	return nil
}

// Append appends the encoding of a to b. It does not check a (see
// Validate); at most MaxAckRanges ranges are written.
func (a *Ack) Append(b []byte) []byte {
	rs := a.Ranges
	if len(rs) > MaxAckRanges {
		rs = rs[:MaxAckRanges]
	}
	b = appendHeader(b, KindAck, a.Receiver)
	b = le.AppendUint64(b, a.Sender)
	b = append(b, a.Message, byte(len(rs)))
	for _, r := range rs {
		b = le.AppendUint32(b, r.Start)
		b = le.AppendUint32(b, r.End)
	}
	return b
}

// ParseAck parses an ack datagram. Ranges is a new slice (at most
// MaxAckRanges entries).
func ParseAck(b []byte) (Ack, error) {
	var rs [MaxAckRanges]Range
	a, n, err := parseAck(b, &rs)
	if err != nil {
		return Ack{}, err
	}
	a.Ranges = append([]Range(nil), rs[:n]...)
	return a, nil
}

// ParseAckInto parses an ack datagram like ParseAck, appending the ranges
// to buf[:0] so that a caller can parse without allocating.
func ParseAckInto(b []byte, buf []Range) (Ack, error) {
	var rs [MaxAckRanges]Range
	a, n, err := parseAck(b, &rs)
	if err != nil {
		return Ack{}, err
	}
	a.Ranges = append(buf[:0], rs[:n]...)
	return a, nil
}

func parseAck(b []byte, rs *[MaxAckRanges]Range) (Ack, int, error) {
	_, recv, err := header(b, KindAck)
	if err != nil {
		return Ack{}, 0, err
	}
	if len(b) < ackFixed {
		return Ack{}, 0, ErrShort
	}
	a := Ack{Receiver: recv, Sender: le.Uint64(b[10:18]), Message: b[18]}
	if a.Message > MaxMessageIndex {
		return Ack{}, 0, ErrMessageIndex
	}
	n := int(b[19])
	if n == 0 || n > MaxAckRanges {
		return Ack{}, 0, ErrRanges
	}
	if len(b) != AckSize(n) {
		return Ack{}, 0, ErrLength
	}
	p := b[ackFixed:]
	for i := range n {
		rs[i] = Range{Start: le.Uint32(p[0:4]), End: le.Uint32(p[4:8])}
		p = p[rangeSize:]
	}
	if err := checkRanges(rs[:n]); err != nil {
		return Ack{}, 0, err
	}
	return a, n, nil
}
