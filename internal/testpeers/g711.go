package testpeers

import "math"

// G.711 encoders (ITU-T G.711; the segment search follows the public-domain
// g711.c of Sun Microsystems).

// linearToULaw encodes a 16-bit linear sample as μ-law (PCMU).
func linearToULaw(sample int16) byte {
	const (
		bias = 0x84
		clip = 32635
	)
	s := int(sample)
	sign := 0
	if s < 0 {
		s, sign = -s, 0x80
	}
	if s > clip {
		s = clip
	}
	s += bias
	exponent := 7
	for mask := 0x4000; s&mask == 0 && exponent > 0; mask >>= 1 {
		exponent--
	}
	mantissa := (s >> (exponent + 3)) & 0x0F
	return ^byte(sign | exponent<<4 | mantissa)
}

// linearToALaw encodes a 16-bit linear sample as A-law (PCMA).
func linearToALaw(sample int16) byte {
	v := int(sample) >> 3
	mask := 0xD5
	if v < 0 {
		mask = 0x55
		v = -v - 1
	}
	seg := 0
	for end := 0x1F; seg < 8 && v > end; end = end<<1 | 1 {
		seg++
	}
	if seg >= 8 {
		return byte(0x7F ^ mask)
	}
	aval := seg << 4
	if seg < 2 {
		aval |= (v >> 1) & 0x0F
	} else {
		aval |= (v >> seg) & 0x0F
	}
	return byte(aval ^ mask)
}

// toneFrame returns 20 ms (160 samples at 8 kHz) of a 400 Hz tone encoded
// with encode. 400 Hz has exactly 8 periods in 20 ms, so the frame repeats
// without a click.
func toneFrame(encode func(int16) byte) []byte {
	const (
		rate      = 8000
		frequency = 400
		amplitude = 8000
	)
	frame := make([]byte, samplesPerPacket)
	for i := range frame {
		v := amplitude * math.Sin(2*math.Pi*frequency*float64(i)/rate)
		frame[i] = encode(int16(v))
	}
	return frame
}
