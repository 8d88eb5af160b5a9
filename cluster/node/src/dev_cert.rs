//! `tesserad dev-cert --out DIR`: a throwaway certificate authority and a certificate for
//! `localhost`, `127.0.0.1` and `::1` (and any `--host`) signed by it, for trials and tests.
//! Not for production:
//! the CA's key is discarded, so nothing else can ever be signed by it, and anyone trusting
//! `ca.pem` trusts only this one certificate.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

/// How long the certificates are valid.
const VALID_DAYS: i64 = 365;

/// The files written, in order: CA certificate, server certificate, server key.
pub const FILES: [&str; 3] = ["ca.pem", "cert.pem", "key.pem"];

/// Writes `ca.pem`, `cert.pem` and `key.pem` (mode 0600) into `dir`, creating it; the
/// certificate also names `hosts` (DNS names or IP addresses). Refuses to overwrite existing
/// files unless `force`.
pub fn write(dir: &Path, hosts: &[String], force: bool) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let paths: Vec<PathBuf> = FILES.iter().map(|f| dir.join(f)).collect();
    if !force {
        if let Some(existing) = paths.iter().find(|p| p.exists()) {
            bail!(
                "{} exists; pass --force to replace the certificate files in {}",
                existing.display(),
                dir.display()
            );
        }
    }
    let now = time::OffsetDateTime::now_utc();
    let validity = |params: &mut CertificateParams| {
        params.not_before = now - time::Duration::minutes(5);
        params.not_after = now + time::Duration::days(VALID_DAYS);
    };

    let ca_key = KeyPair::generate().context("generating the CA key")?;
    let mut ca = CertificateParams::default();
    ca.distinguished_name = DistinguishedName::new();
    ca.distinguished_name.push(
        DnType::CommonName,
        "Tessera development CA (not for production)",
    );
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    validity(&mut ca);
    let ca_cert = ca
        .self_signed(&ca_key)
        .context("signing the CA certificate")?;
    let issuer = Issuer::new(ca, ca_key);

    let key = KeyPair::generate().context("generating the server key")?;
    let mut server =
        CertificateParams::new(vec!["localhost".to_owned()]).context("certificate parameters")?;
    server
        .subject_alt_names
        .push(SanType::IpAddress([127, 0, 0, 1].into()));
    server
        .subject_alt_names
        .push(SanType::IpAddress(std::net::Ipv6Addr::LOCALHOST.into()));
    for host in hosts {
        let san = match host.parse::<std::net::IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => {
                let not_a_name = || format!("--host {host:?} is not a DNS name or an IP address");
                rustls::pki_types::DnsName::try_from(host.as_str())
                    .map_err(|_| anyhow::anyhow!(not_a_name()))?;
                SanType::DnsName(host.as_str().try_into().with_context(not_a_name)?)
            }
        };
        server.subject_alt_names.push(san);
    }
    server.distinguished_name = DistinguishedName::new();
    server
        .distinguished_name
        .push(DnType::CommonName, "Tessera development server (localhost)");
    server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    validity(&mut server);
    let cert = server
        .signed_by(&key, &issuer)
        .context("signing the server certificate")?;

    write_file(&paths[0], ca_cert.pem().as_bytes(), 0o644)?;
    write_file(&paths[1], cert.pem().as_bytes(), 0o644)?;
    write_file(&paths[2], key.serialize_pem().as_bytes(), 0o600)?;
    Ok(paths)
}

/// Writes `bytes` to a new file created with `mode` (so a key is never readable by others,
/// not even for a moment).
fn write_file(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    // The umask may have taken bits away; set exactly what was asked.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_pair_the_gateway_accepts_and_a_private_key() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let paths = write(
            dir.path(),
            &["10.0.0.1".into(), "tickets.lan".into()],
            false,
        )
        .unwrap();
        let mode = std::fs::metadata(&paths[2]).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        tessera_gateway::server::tls::load(&paths[1], &paths[2]).unwrap();
        let again = write(dir.path(), &[], false).unwrap_err().to_string();
        assert!(again.contains("--force"), "{again}");
        write(dir.path(), &[], true).unwrap();
        assert!(write(dir.path(), &["not a name!".into()], true).is_err());
    }
}
