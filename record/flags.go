package record

import "fmt"

// Flag is a packet flag (digest 2.1: the current numbering, the same in QSMS and QSMD).
type Flag uint8

// Packet flags. Those the reference never sends are defined for recognition only.
const (
	FlagNone                      Flag = 0x00 // none
	FlagConnectRequest            Flag = 0x01 // connect_request
	FlagConnectResponse           Flag = 0x02 // connect_response
	FlagConnectionTerminate       Flag = 0x03 // connection_terminate
	FlagEncryptedMessage          Flag = 0x04 // encrypted_message
	FlagExstartRequest            Flag = 0x05 // exstart_request
	FlagExstartResponse           Flag = 0x06 // exstart_response
	FlagExchangeRequest           Flag = 0x07 // exchange_request
	FlagExchangeResponse          Flag = 0x08 // exchange_response
	FlagEstablishRequest          Flag = 0x09 // establish_request
	FlagEstablishResponse         Flag = 0x0A // establish_response
	FlagRemoteConnected           Flag = 0x0B // remote_connected
	FlagRemoteTerminated          Flag = 0x0C // remote_terminated
	FlagSessionEstablished        Flag = 0x0D // session_established
	FlagSessionEstablishVerify    Flag = 0x0E // session_establish_verify
	FlagUnrecognizedProtocol      Flag = 0x0F // unrecognized_protocol
	FlagAsymmetricRatchetRequest  Flag = 0x10 // asymmetric_ratchet_request
	FlagAsymmetricRatchetResponse Flag = 0x11 // asymmetric_ratchet_response
	FlagSymmetricRatchetRequest   Flag = 0x12 // symmetric_ratchet_request
	FlagTransferRequest           Flag = 0x13 // transfer_request
	FlagErrorCondition            Flag = 0x14 // error_condition
)

var flagNames = [...]string{
	FlagNone:                      "none",
	FlagConnectRequest:            "connect_request",
	FlagConnectResponse:           "connect_response",
	FlagConnectionTerminate:       "connection_terminate",
	FlagEncryptedMessage:          "encrypted_message",
	FlagExstartRequest:            "exstart_request",
	FlagExstartResponse:           "exstart_response",
	FlagExchangeRequest:           "exchange_request",
	FlagExchangeResponse:          "exchange_response",
	FlagEstablishRequest:          "establish_request",
	FlagEstablishResponse:         "establish_response",
	FlagRemoteConnected:           "remote_connected",
	FlagRemoteTerminated:          "remote_terminated",
	FlagSessionEstablished:        "session_established",
	FlagSessionEstablishVerify:    "session_establish_verify",
	FlagUnrecognizedProtocol:      "unrecognized_protocol",
	FlagAsymmetricRatchetRequest:  "asymmetric_ratchet_request",
	FlagAsymmetricRatchetResponse: "asymmetric_ratchet_response",
	FlagSymmetricRatchetRequest:   "symmetric_ratchet_request",
	FlagTransferRequest:           "transfer_request",
	FlagErrorCondition:            "error_condition",
}

// String returns the C implementation's name of the flag.
func (f Flag) String() string {
	if int(f) < len(flagNames) {
		return flagNames[f]
	}
	return fmt.Sprintf("flag(0x%02x)", uint8(f))
}

// Code is a one-byte error code carried by error packets (digest 2.2).
type Code uint8

// Error codes (qsms_errors; QSMD names 0x05 connect_failure).
const (
	CodeNone                  Code = 0x00 // none
	CodeAcceptFail            Code = 0x01 // accept_fail
	CodeAuthenticationFailure Code = 0x02 // authentication_failure
	CodeChannelDown           Code = 0x03 // channel_down
	CodeConnectionFailure     Code = 0x04 // connection_failure
	CodeConnectionRefused     Code = 0x05 // connection_refused
	CodeDecapsulationFailure  Code = 0x06 // decapsulation_failure
	CodeDecryptionFailure     Code = 0x07 // decryption_failure
	CodeEstablishFailure      Code = 0x08 // establish_failure
	CodeExchangeFailure       Code = 0x09 // exchange_failure
	CodeHashInvalid           Code = 0x0A // hash_invalid
	CodeHostsExceeded         Code = 0x0B // hosts_exceeded
	CodeInvalidInput          Code = 0x0C // invalid_input
	CodeInvalidRequest        Code = 0x0D // invalid_request
	CodeKeyExpired            Code = 0x0E // key_expired
	CodeKeyUnrecognized       Code = 0x0F // key_unrecognized
	CodeKeychainFail          Code = 0x10 // keychain_fail
	CodeListenerFail          Code = 0x11 // listener_fail
	CodeMemoryAllocation      Code = 0x12 // memory_allocation
	CodeMessageTimeInvalid    Code = 0x13 // message_time_invalid
	CodePacketUnsequenced     Code = 0x14 // packet_unsequenced
	CodeRandomFailure         Code = 0x15 // random_failure
	CodeReceiveFailure        Code = 0x16 // receive_failure
	CodeTransmitFailure       Code = 0x17 // transmit_failure
	CodeUnknownProtocol       Code = 0x18 // unknown_protocol
	CodeVerifyFailure         Code = 0x19 // verify_failure
	CodeSystemMessage         Code = 0x1A // system_message
)

var codeNames = [...]string{
	CodeNone:                  "none",
	CodeAcceptFail:            "accept_fail",
	CodeAuthenticationFailure: "authentication_failure",
	CodeChannelDown:           "channel_down",
	CodeConnectionFailure:     "connection_failure",
	CodeConnectionRefused:     "connection_refused",
	CodeDecapsulationFailure:  "decapsulation_failure",
	CodeDecryptionFailure:     "decryption_failure",
	CodeEstablishFailure:      "establish_failure",
	CodeExchangeFailure:       "exchange_failure",
	CodeHashInvalid:           "hash_invalid",
	CodeHostsExceeded:         "hosts_exceeded",
	CodeInvalidInput:          "invalid_input",
	CodeInvalidRequest:        "invalid_request",
	CodeKeyExpired:            "key_expired",
	CodeKeyUnrecognized:       "key_unrecognized",
	CodeKeychainFail:          "keychain_fail",
	CodeListenerFail:          "listener_fail",
	CodeMemoryAllocation:      "memory_allocation",
	CodeMessageTimeInvalid:    "message_time_invalid",
	CodePacketUnsequenced:     "packet_unsequenced",
	CodeRandomFailure:         "random_failure",
	CodeReceiveFailure:        "receive_failure",
	CodeTransmitFailure:       "transmit_failure",
	CodeUnknownProtocol:       "unknown_protocol",
	CodeVerifyFailure:         "verify_failure",
	CodeSystemMessage:         "system_message",
}

// String returns the C implementation's name of the code.
func (c Code) String() string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return fmt.Sprintf("code(0x%02x)", uint8(c))
}

// Error makes a Code usable as an error value: errors.As(err, &code) finds
// the code a failure maps to.
func (c Code) Error() string { return "qsmp: " + c.String() }
