//! Keys as operators' tools write them, each turned into PKCS#8 and signing a root.
//! Fixtures made with `openssl ecparam -name prime256v1 -genkey -noout` (SEC1) and
//! `openssl genrsa -traditional 2048` (PKCS#1), for these tests only.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

use super::*;
use crate::RootCa;
use crate::authority::at;

const NOW: i64 = 1_700_000_000;

const SEC1_P256: &str = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIP2ZPCCV4fVvdzZF0de/A4l/B/3LPDuMa6jesSyTQKpFoAoGCCqGSM49\nAwEHoUQDQgAEoej8I0zg8PN0O9MSGA7tbyWRlJa4hlC6jz9OuuKhkkWmH2yw2WSS\n5T+W0M6Y1kMQV6clvX6VSY/g7/BURaCOxg==\n-----END EC PRIVATE KEY-----\n";

const PKCS1_RSA: &str = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpQIBAAKCAQEAuNX2ZNQCydKflSLkIX9eyOi8rCpZYAwANxyNcmM8oqCuinck\nbjKbNVSNLzVabA9e9Inu49iE9cp5jhLbNVrdBxnriIWcbuvX3Ne6I/uYYNTgjTYw\nw0el2gCm1rabHF4JJj40sNwfEgo6XB1TqgcQTyPAdGgihehVWU5WnAwp1wA7oCHJ\nb5MJleK2tS8dvnnEo5G486ZxrFt3go5bPCPLQzZmrbltp915c4H3drRGnLxUgbEC\nSBwk9BuLGbMQzg7ZqgTLDIcslzaiUs9Mjw3G90fEM/Ao//FafEB10A0/VmsGiFbh\nugZ+qLnMmB/gpc7EEm7dOV5Glvd6kAkguW42cQIDAQABAoIBACsmTAia0/HQuU+E\nHzTQusx1RMJ+enHpK02yXTUEhL3EfCq4CKmvJ7up+vG3512NsxGsd7f6LoQA2iK4\nNTN9/FZxjyJGatAcP77/H6XR0O9eEvP0YCreeZHskAZVB9319/XVFNDq+lfoSlqB\nwCvTzVNkWcPzIYgYRoB8QMzaLBRURAJ79O7S4mOQUYKyoeWDQHkEEqVmsP/zFZEm\nbisdfQgWR1XKqv670YWx978YQtDe7Vx025ZV0tLpcJkKmpYlNaMciHA4kEGmM7ps\nHDM1sjix93DZgrpaEq+zbtYgbdfazJYpE+AsaYbOwR5p8GZyBEgk4TPiVN7uX6Dt\nO9Pd05cCgYEA8Jp7cmv60+BnX7J82m/Po/rf42xJR0LBglU38XX+FJ52HsjbsBij\nUaLxdzbR3hMsVEe50XL/1mGNg/Fw2mCTVoVPVDEZp0Cq3wCA7MRGM8zPnATOPKb8\n6eP4aW69VPkDOvzQZtTbg42x8p6LwH3zexEK8CGZ1FcZzf6+OsEy72sCgYEAxKnn\n10gAGUodIDpSRmI2zpKmE6Yc3TKbv3HkFSGr/43yoWU2nFjTB0UF+RUw7WzcsNUS\nqBLsFLt+t62Hu/ue58Jkzdh1L0utyEfXto2y9iQQ5eJl0p12GZKQtXyj8EiQCbUL\nYL8QIU+MrQUhqUOq4eWJSL/cura/K2unqvXnNJMCgYEAvymeR0zvnwO+XlRLyqnn\nidu7os/YcNvjL5BRwHEFDJDSPKdNlN4edLBHtXZCzHTjVZsfUgBSsJwVee2MwpTU\nu3tzierw/OfuWvvlcziGpoVltgpDagErFRHhvrMTjr3CCU3wrqMUPbOI3MGHO8tW\ndkMWM7Aeroz9naN2tOvncj0CgYEAi4gI5+M7vrWoyI7YhPt160Z88n/vBrm7ay9B\nJgUH5X8u4HfRMUiMISJFxJ3WYv3T7tqeLAWQ3nzQwT0riqJR8hkoMCwdqHrHR8xB\nLlKG4MBiBNiGadIyUp58cWeHYRn6qAh9lBy7MwcfxjpX0aIjAbc7mhQWZZr3M7Vj\n9pYVfmUCgYEAhu0ZN6qyCK9wQTXoVgh6GZMPHJRaajlN4d+LAlF/F1x3xqPjwzAT\n/LLLZdfYBsmOnziLvMKk2RC9gDdko/HQxPg3nTvnGEgACqRA0R32AWT5S+2mOso5\nv7jaNt31qafQYM+bgjxQRZIpIiYFYvjKVSlr2NTLwbWeBBAqEP8NC7c=\n-----END RSA PRIVATE KEY-----\n";

fn root_for(key_pem: &str) -> String {
    let key = KeyPair::from_pem(&to_pkcs8_pem(key_pem).unwrap()).unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "Operator Root");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.not_before = at(NOW - 60).unwrap();
    params.not_after = at(NOW + 10 * 365 * 24 * 3600).unwrap();
    params.self_signed(&key).unwrap().pem()
}

#[test]
fn sec1_and_pkcs1_keys_sign_as_their_pkcs8_forms() {
    for key in [SEC1_P256, PKCS1_RSA] {
        let pkcs8 = to_pkcs8_pem(key).unwrap();
        assert!(pkcs8.starts_with("-----BEGIN PRIVATE KEY-----"), "{pkcs8}");
        assert_eq!(to_pkcs8_pem(&pkcs8).unwrap(), pkcs8);
        let cert = root_for(key);
        // The operator hands in the key as written; the root keeps the PKCS#8 form.
        let root = RootCa::from_operator(&cert, key, NOW).unwrap();
        assert_eq!(root.key_pem(), pkcs8);
        let node = crate::NodeKey::generate().unwrap();
        let leaf = root
            .issue(&node.csr_pem, "n1", types::Role::Worker, "c", NOW, 3600)
            .unwrap();
        assert!(crate::issued_by(&leaf, &cert));
    }
}

#[test]
fn other_forms_are_errors() {
    assert!(to_pkcs8_pem("garbage").is_err());
    assert!(to_pkcs8_pem("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n").is_err());
    assert!(to_pkcs8_pem("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n").is_err());
    assert_eq!(sec1_curve(&[0x30, 0x03, 0x02, 0x01, 0x01]), None);
    assert_eq!(read_tlv(&[0x30, 0x85, 0, 0, 0, 0, 1]), None);
    assert_eq!(tlv(0x04, &[7; 200])[..3], [0x04, 0x81, 200]);
}
