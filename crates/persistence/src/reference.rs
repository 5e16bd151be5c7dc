//! What the submission rules read of a contract's reference data besides its terms: its
//! matrix versions, in lookup form, and the terms of the agreements on it. Kept apart from
//! `contracts`, `matrices` and `agreements` so that those depend on `contracts` only.

use dayops_domain::agreement::AgreementInput;
use dayops_domain::matrix::{MatrixVersion, RateMatrixVersion};

use crate::error::StoreError;
use crate::{agreements, matrices, DbConnection};

/// What submission rules read about a contract besides its terms: its matrix versions (in
/// lookup form) and the agreements on it.
pub fn rules_reference(
    conn: &mut DbConnection,
    contract_id: &str,
) -> Result<(Vec<MatrixVersion<String>>, Vec<AgreementInput>), StoreError> {
    let versions = matrices::list(conn, contract_id)?
        .iter()
        .map(RateMatrixVersion::for_lookup)
        .collect();
    Ok((versions, agreements_of(conn, contract_id)?))
}

/// The terms of every agreement on a contract.
pub fn agreements_of(
    conn: &mut DbConnection,
    contract_id: &str,
) -> Result<Vec<AgreementInput>, StoreError> {
    agreements::terms_for_contract(conn, contract_id)
}
