//! The SOAP phases' client: tessera-testkit's minimal keep-alive `SoapClient`, against a
//! `tesserad gateway` process in front of the cluster.

use super::*;

pub(crate) use tessera_testkit::soap_client::{SoapClient, SOAP_PATH};

/// Waits until the gateway answers a SOAP call, for at most `within`.
pub(crate) async fn wait_soap_ready(client: &SoapClient, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    let probe = Request::GetEventSchedule {
        participant_id: UserId::parse("MTLP0001")?,
    };
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            bail!("the gateway did not answer within {within:?}");
        }
        match tokio::time::timeout(left.min(Duration::from_secs(3)), client.submit(&probe)).await {
            Ok(Ok(_)) => return Ok(()),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}
