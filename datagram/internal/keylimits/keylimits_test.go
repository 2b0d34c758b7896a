package keylimits

import (
	"errors"
	"testing"
	"time"
)

func TestNormalize(t *testing.T) {
	type six struct {
		rr, rb int64
		rt     time.Duration
		jr, jb int64
		jt     time.Duration
	}
	for _, c := range []struct {
		in, want six
		err      bool
	}{
		{six{}, six{DefaultRekeyAfterRecords, DefaultRekeyAfterBytes, DefaultRekeyAfterTime, 2 * DefaultRekeyAfterRecords, 2 * DefaultRekeyAfterBytes, NoLimit}, false},
		{six{-1, -1, -1, 0, 0, 0}, six{NoLimit, NoLimit, NoLimit, NoLimit, NoLimit, NoLimit}, false},
		{six{10, 20, time.Second, -1, -1, 5 * time.Second}, six{10, 20, time.Second, NoLimit, NoLimit, 5 * time.Second}, false},
		{six{NoLimit/2 + 1, 7, 0, 0, 0, 0}, six{NoLimit/2 + 1, 7, DefaultRekeyAfterTime, NoLimit, 14, NoLimit}, false},
		{six{10, 0, 0, 10, 0, 0}, six{}, true},
		{six{0, 10, 0, 0, 5, 0}, six{}, true},
		{six{0, 0, time.Minute, 0, 0, time.Second}, six{}, true},
	} {
		got := c.in
		err := Normalize(&got.rr, &got.rb, &got.rt, &got.jr, &got.jb, &got.jt)
		if c.err {
			if !errors.Is(err, ErrOrder) {
				t.Errorf("%+v: err %v, want ErrOrder", c.in, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%+v: %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
}
