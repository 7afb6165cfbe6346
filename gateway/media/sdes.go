package media

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/pion/srtp/v3"
)

// SDES-SRTP on the SIP side (RFC 4568): each side announces the key it
// encrypts with in an a=crypto line.

var sdesSuites = map[string]srtp.ProtectionProfile{
	"AES_CM_128_HMAC_SHA1_80": srtp.ProtectionProfileAes128CmHmacSha1_80,
	"AES_CM_128_HMAC_SHA1_32": srtp.ProtectionProfileAes128CmHmacSha1_32,
}

const sdesKeyLen, sdesSaltLen = 16, 14

type sdesSession struct {
	local  sdesCrypto
	keyRaw []byte
	out    atomic.Pointer[srtp.Context] // encrypts towards SIP (browser loop only)
	in     atomic.Pointer[srtp.Context] // decrypts from SIP (SIP loop only)
}

func newSDESSession() (*sdesSession, error) {
	raw := make([]byte, sdesKeyLen+sdesSaltLen)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	s := &sdesSession{keyRaw: raw, local: sdesCrypto{tag: 1, suite: "AES_CM_128_HMAC_SHA1_80", key: base64.StdEncoding.EncodeToString(raw)}}
	if err := s.setLocalSuite(s.local.tag, s.local.suite); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *sdesSession) setLocalSuite(tag int, suite string) error {
	ctx, err := srtp.CreateContext(s.keyRaw[:sdesKeyLen], s.keyRaw[sdesKeyLen:], sdesSuites[suite])
	if err != nil {
		return err
	}
	s.local.tag, s.local.suite = tag, suite
	s.out.Store(ctx)
	return nil
}

// setRemote takes the remote key from the first a=crypto line with a suite
// the gateway supports; the gateway then encrypts with the same suite and tag.
func (s *sdesSession) setRemote(r *remoteSDP) error {
	for _, c := range r.crypto {
		profile, ok := sdesSuites[c.suite]
		if !ok {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(c.key)
		if err != nil || len(raw) != sdesKeyLen+sdesSaltLen {
			return fmt.Errorf("a=crypto %d: the key is not %d bytes of base64", c.tag, sdesKeyLen+sdesSaltLen)
		}
		in, err := srtp.CreateContext(raw[:sdesKeyLen], raw[sdesKeyLen:], profile, srtp.SRTPReplayProtection(64))
		if err != nil {
			return err
		}
		if c.tag != s.local.tag || c.suite != s.local.suite {
			if err := s.setLocalSuite(c.tag, c.suite); err != nil {
				return err
			}
		}
		s.in.Store(in)
		return nil
	}
	return errors.New("sip/srtp is sdes but the SIP side offers no usable a=crypto (AES_CM_128_HMAC_SHA1_80 or _32)")
}

func (s *sdesSession) encrypt(dst, pkt []byte) ([]byte, error) {
	return s.out.Load().EncryptRTP(dst, pkt, nil)
}

func (s *sdesSession) decrypt(dst, pkt []byte) ([]byte, error) {
	in := s.in.Load()
	if in == nil {
		return nil, errors.New("no remote key yet")
	}
	return in.DecryptRTP(dst, pkt, nil)
}
