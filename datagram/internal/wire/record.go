package wire

// RecordPrefix returns the 10-byte envelope of a record: the bytes that go
// in front of the QSMP packet and that open its AD. epochBit is set for odd
// epochs.
func RecordPrefix(receiver uint64, epochBit bool) [HeaderSize]byte {
	var p [HeaderSize]byte
	p[0] = Version
	p[1] = byte(KindRecord)
	if epochBit {
		p[1] |= byte(EpochBit)
	}
	le.PutUint64(p[2:], receiver)
	return p
}

// Record is a parsed record datagram (kind 0x04 or 0x84).
type Record struct {
	// Receiver is the receiver's session id.
	Receiver uint64
	// EpochBit is set for records of odd epochs.
	EpochBit bool
	// Prefix is the 10-byte envelope, the start of the record's AD. It
	// aliases the input.
	Prefix []byte
	// Packet is the QSMP packet: header, ciphertext, tag. It aliases the
	// input.
	Packet []byte
}

// AppendRecord appends a record datagram: the envelope, then packet.
func AppendRecord(b []byte, receiver uint64, epochBit bool, packet []byte) []byte {
	p := RecordPrefix(receiver, epochBit)
	b = append(b, p[:]...)
	return append(b, packet...)
}

// ParseRecord parses a record datagram. The packet must hold at least a
// QSMP header (MinRecordSize bytes); the record layer checks the rest.
func ParseRecord(b []byte) (Record, error) {
	k, recv, err := header(b, KindRecord)
	if err != nil {
		return Record{}, err
	}
	if len(b) < HeaderSize+MinRecordSize {
		return Record{}, ErrShort
	}
	return Record{
		Receiver: recv,
		EpochBit: k&EpochBit != 0,
		Prefix:   b[:HeaderSize:HeaderSize],
		Packet:   b[HeaderSize:],
	}, nil
}
