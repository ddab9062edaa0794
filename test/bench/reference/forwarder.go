// The bench's reference: upstream ngrokd's hot path in plain Go (stdlib only), the peer to beat.
// Every accepted local connection gets a fresh TCP + TLS dial to the ingress with the client
// certificate, one ConnRequest frame (uint16 little-endian length + protobuf: host = 1, port = 2),
// one ConnResponse frame read back, then io.Copy both ways with CloseWrite on EOF.
//
//	go build -o reference forwarder.go
//	reference -ingress 127.0.0.1:PORT -servername NAME -ca ca.pem -cert cert.pem -key key.pem -host web.bench -port 80
//
// Prints "LISTEN 127.0.0.1:PORT" once it accepts connections.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
)

func varint(v uint64) []byte {
	var b [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(b[:], v)
	return b[:n]
}

func connRequest(host string, port int64) []byte {
	msg := []byte{0x0a}
	msg = append(msg, varint(uint64(len(host)))...)
	msg = append(msg, host...)
	msg = append(msg, 0x10)
	msg = append(msg, varint(uint64(port))...)
	frame := make([]byte, 2, 2+len(msg))
	binary.LittleEndian.PutUint16(frame, uint16(len(msg)))
	return append(frame, msg...)
}

// errorCode returns field 3 (error_code) of a ConnResponse, "" when absent.
func errorCode(msg []byte) string {
	for len(msg) > 0 {
		key, n := binary.Uvarint(msg)
		if n <= 0 {
			return "malformed"
		}
		msg = msg[n:]
		field, wire := key>>3, key&7
		switch wire {
		case 0:
			_, n = binary.Uvarint(msg)
			if n <= 0 {
				return "malformed"
			}
			msg = msg[n:]
		case 2:
			l, n := binary.Uvarint(msg)
			if n <= 0 || uint64(len(msg)-n) < l {
				return "malformed"
			}
			if field == 3 && l > 0 {
				return string(msg[n : n+int(l)])
			}
			msg = msg[n+int(l):]
		default:
			return "malformed"
		}
	}
	return ""
}

func main() {
	ingress := flag.String("ingress", "", "ingress host:port")
	servername := flag.String("servername", "", "SNI and verified name")
	caFile := flag.String("ca", "", "CA PEM trusted for the ingress")
	certFile := flag.String("cert", "", "client certificate PEM")
	keyFile := flag.String("key", "", "client key PEM")
	host := flag.String("host", "", "endpoint host")
	port := flag.Int64("port", 80, "endpoint port")
	listen := flag.String("listen", "127.0.0.1:0", "local address")
	flag.Parse()

	pem, err := os.ReadFile(*caFile)
	if err != nil {
		log.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		log.Fatal("no certificate in ", *caFile)
	}
	cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		log.Fatal(err)
	}
	config := &tls.Config{RootCAs: roots, ServerName: *servername, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	request := connRequest(*host, *port)

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("LISTEN %s\n", ln.Addr())
	for {
		client, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go serve(client.(*net.TCPConn), *ingress, config, request)
	}
}

func serve(client *net.TCPConn, ingress string, config *tls.Config, request []byte) {
	defer client.Close()
	upstream, err := tls.Dial("tcp", ingress, config)
	if err != nil {
		log.Print("dial: ", err)
		return
	}
	defer upstream.Close()
	if _, err := upstream.Write(request); err != nil {
		return
	}
	var length [2]byte
	if _, err := io.ReadFull(upstream, length[:]); err != nil {
		return
	}
	msg := make([]byte, binary.LittleEndian.Uint16(length[:]))
	if _, err := io.ReadFull(upstream, msg); err != nil {
		return
	}
	if code := errorCode(msg); code != "" {
		log.Print("refused: ", code)
		return
	}
	done := make(chan struct{})
	go func() {
		io.Copy(upstream, client)
		upstream.CloseWrite()
		close(done)
	}()
	io.Copy(client, upstream)
	client.CloseWrite()
	<-done
}
