package netsim

// Stats counts what happened to datagrams. Every datagram written is counted
// in Sent; each copy made by duplication in Duplicated. Once nothing is in
// flight, every one of them has ended in exactly one of TooBig, QueueDropped,
// Lost, Unreachable, RecvDropped, Discarded, WriteErrors or Delivered, so
//
//	Sent + Duplicated == TooBig + QueueDropped + Lost + Unreachable +
//	                     RecvDropped + Discarded + WriteErrors + Delivered + InFlight
//
// holds at every snapshot. Reordered and Corrupted count datagrams that were
// held back or had a bit flipped (they are also counted where they ended).
type Stats struct {
	Sent         uint64 // datagrams accepted by WriteTo
	Delivered    uint64 // copies handed to the receiver (Network) or written to the real conn (Wrap)
	Lost         uint64 // dropped by independent or Gilbert-Elliott loss
	Duplicated   uint64 // extra copies made
	Reordered    uint64 // held back so that later datagrams overtake them
	Corrupted    uint64 // had one bit flipped
	TooBig       uint64 // longer than the MTU
	QueueDropped uint64 // did not fit the bandwidth queue or the in-flight limit
	Unreachable  uint64 // Network: nobody at the destination address (never bound, rebound away or closed)
	RecvDropped  uint64 // Network: the receiver's queue was full
	Discarded    uint64 // still scheduled when the sender (Wrap) or the Network was closed
	WriteErrors  uint64 // Wrap: the real conn's WriteTo failed
	InFlight     uint64 // scheduled now, not yet delivered (a gauge, not a total)
}

// counter indexes the fields of Stats in a counters array.
type counter int

const (
	cSent counter = iota
	cDelivered
	cLost
	cDuplicated
	cReordered
	cCorrupted
	cTooBig
	cQueueDropped
	cUnreachable
	cRecvDropped
	cDiscarded
	cWriteErrors
	cInFlight
	numCounters
)

type counters [numCounters]uint64

func (c *counters) stats() Stats {
	return Stats{
		Sent:         c[cSent],
		Delivered:    c[cDelivered],
		Lost:         c[cLost],
		Duplicated:   c[cDuplicated],
		Reordered:    c[cReordered],
		Corrupted:    c[cCorrupted],
		TooBig:       c[cTooBig],
		QueueDropped: c[cQueueDropped],
		Unreachable:  c[cUnreachable],
		RecvDropped:  c[cRecvDropped],
		Discarded:    c[cDiscarded],
		WriteErrors:  c[cWriteErrors],
		InFlight:     c[cInFlight],
	}
}
