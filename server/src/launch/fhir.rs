//! The few FHIR reads CloudCGM makes with a clinician's launch token: the EHR Patient (for the banner and
//! the side-by-side identity check when linking) and a Patient search by name (linking from the admin
//! console). Only what the granted scopes allow is attempted; answers are size-capped.

use crate::smart_client::Secret;
use serde_json::Value;

/// An EHR patient's identity as shown next to the CloudCGM patient's.
#[derive(Debug, Clone, PartialEq)]
pub struct EhrPatient {
    pub id: String,
    pub name: Option<String>,
    pub birth_date: Option<String>,
}

/// `Patient.name`: the official name when there is one, else the first; given names then family.
pub fn display_name(patient: &Value) -> Option<String> {
    let names = patient["name"].as_array()?;
    let name = names
        .iter()
        .find(|n| n["use"] == "official")
        .or_else(|| names.first())?;
    if let Some(text) = name["text"].as_str().filter(|t| !t.trim().is_empty()) {
        return Some(text.trim().to_string());
    }
    let mut parts: Vec<&str> = name["given"]
        .as_array()
        .map(|g| g.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if let Some(family) = name["family"].as_str() {
        parts.push(family);
    }
    (!parts.is_empty()).then(|| parts.join(" "))
}

pub fn ehr_patient(resource: &Value) -> Option<EhrPatient> {
    (resource["resourceType"] == "Patient").then(|| EhrPatient {
        id: resource["id"].as_str().unwrap_or_default().to_string(),
        name: display_name(resource),
        birth_date: resource["birthDate"].as_str().map(str::to_string),
    })
}

/// Largest FHIR answer read: a Patient or a page of 20 is far smaller.
const MAX_ANSWER_BYTES: usize = 2 * 1024 * 1024;

async fn get_json(http: &reqwest::Client, url: &str, token: &Secret) -> anyhow::Result<Value> {
    let response = http
        .get(url)
        .bearer_auth(token.expose())
        .header("accept", "application/fhir+json")
        .send()
        .await?;
    let status = response.status();
    let bytes = response.bytes().await?;
    anyhow::ensure!(
        bytes.len() <= MAX_ANSWER_BYTES,
        "the EHR's answer is too large"
    );
    anyhow::ensure!(status.is_success(), "the EHR answered {status}");
    Ok(serde_json::from_slice(&bytes)?)
}

fn base(iss: &str) -> &str {
    iss.trim_end_matches('/')
}

/// Reads `Patient/{id}`.
pub async fn read_patient(
    http: &reqwest::Client,
    iss: &str,
    token: &Secret,
    id: &str,
) -> anyhow::Result<EhrPatient> {
    anyhow::ensure!(
        !id.is_empty()
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'),
        "the patient id {id:?} is not a FHIR id"
    );
    let resource = get_json(http, &format!("{}/Patient/{id}", base(iss)), token).await?;
    ehr_patient(&resource).ok_or_else(|| anyhow::anyhow!("the EHR did not answer with a Patient"))
}

/// `Patient?name=…&_count=20`.
pub async fn search_patients(
    http: &reqwest::Client,
    iss: &str,
    token: &Secret,
    name: &str,
) -> anyhow::Result<Vec<EhrPatient>> {
    let mut url = reqwest::Url::parse(&format!("{}/Patient", base(iss)))?;
    url.query_pairs_mut()
        .append_pair("name", name)
        .append_pair("_count", "20");
    let bundle = get_json(http, url.as_str(), token).await?;
    Ok(bundle["entry"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .filter_map(|e| ehr_patient(&e["resource"]))
                .collect()
        })
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_official_name_wins_and_given_names_come_first() {
        let p = json!({"resourceType": "Patient", "id": "1", "birthDate": "1970-01-02",
            "name": [{"use": "nickname", "given": ["Lena"]},
                     {"use": "official", "family": "Garcia", "given": ["Elena", "M"]}]});
        let e = ehr_patient(&p).unwrap();
        assert_eq!(e.name.as_deref(), Some("Elena M Garcia"));
        assert_eq!(e.birth_date.as_deref(), Some("1970-01-02"));
        assert!(ehr_patient(&json!({"resourceType": "Practitioner"})).is_none());
    }
}
