package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// certSet is the certificates the option changes switch between: valid
// pairs signed by the harness's CA (which the browsers trust), and pairs
// the gateway must refuse.
type certSet struct {
	CAFile string
	// Valid are certificate and key files for 127.0.0.1.
	Valid [][2]string
	// Expired is a pair whose certificate has expired; Mismatched a
	// certificate with another certificate's key; Missing names files that
	// do not exist.
	Expired, Mismatched, Missing [2]string
}

// writeCerts writes a CA and the pairs into dir.
func writeCerts(dir string, valid int) (certSet, error) {
	var cs certSet
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return cs, err
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return cs, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "soak harness CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(7 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, BasicConstraintsValid: true, IsCA: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return cs, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return cs, err
	}
	cs.CAFile = filepath.Join(dir, "ca.pem")
	if err := writePEM(cs.CAFile, "CERTIFICATE", caDER); err != nil {
		return cs, err
	}
	leaf := func(name string, serial int64, notAfter time.Time) ([2]string, error) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return [2]string{}, err
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: now.Add(-48 * time.Hour), NotAfter: notAfter,
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return [2]string{}, err
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return [2]string{}, err
		}
		pair := [2]string{filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")}
		if err := writePEM(pair[0], "CERTIFICATE", der); err != nil {
			return pair, err
		}
		return pair, writePEM(pair[1], "PRIVATE KEY", keyDER)
	}
	for i := range valid {
		p, err := leaf(fmt.Sprintf("valid%d", i+1), int64(10+i), now.Add(7*24*time.Hour))
		if err != nil {
			return cs, err
		}
		cs.Valid = append(cs.Valid, p)
	}
	if cs.Expired, err = leaf("expired", 100, now.Add(-time.Hour)); err != nil {
		return cs, err
	}
	other, err := leaf("other", 101, now.Add(7*24*time.Hour))
	if err != nil {
		return cs, err
	}
	cs.Mismatched = [2]string{cs.Valid[0][0], other[1]}
	cs.Missing = [2]string{filepath.Join(dir, "missing.crt"), filepath.Join(dir, "missing.key")}
	return cs, nil
}

func writePEM(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}
