-- id: dq_settlement_unbalanced
-- category: data_quality
-- severity: low
-- title_zh: 结算明细合计与结算总额不符
-- title_en: Settlement lines do not add up to the header
-- why_zh: 结算头的医疗费总额应等于明细金额之和，也应等于基金支付加个人负担。对不上的结算，按明细分摊的医保金额不可靠，请向医保系统核实原始结算单。
-- why_en: A settlement's total should equal the sum of its lines and the fund payment plus the personal part. Where they differ, the insurance money shared out over lines is unreliable: check the original settlement.
-- message_zh: 结算 {setl_id}：总额 {medfee_fen} 元，明细合计 {lines_fen} 元，基金+个人负担 {parts_fen} 元
-- message_en: settlement {setl_id}: total {medfee_fen} yuan, lines add up to {lines_fen} yuan, fund + personal part {parts_fen} yuan
-- param tolerance_yuan = 1  # difference tolerated (rounding)
-- param_zh tolerance_yuan: 容许的差额，元（四舍五入）
WITH lines AS (
    SELECT store, setl_id, SUM(amount_fen) AS fen FROM settlement_lines WHERE deleted = 0 GROUP BY store, setl_id
)
SELECT s.store, s.day AS day_first, s.setl_id, s.setl_id AS setl_ids, s.psn_no AS psn_nos, s.medfee_fen,
       l.fen AS lines_fen, COALESCE(s.fund_pay_fen, 0) + COALESCE(s.psn_part_fen, 0) AS parts_fen, 0 AS amount_fen,
       'settlements:' || s.id || COALESCE(',' || (SELECT GROUP_CONCAT('settlement_lines:' || x.id) FROM settlement_lines x
                                                  WHERE x.setl_id = s.setl_id AND x.store = s.store AND x.deleted = 0), '')
           AS evidence  -- listed for the findings only (through settlement_lines_setl), not for every settlement
FROM settlements s LEFT JOIN lines l ON l.store = s.store AND l.setl_id = s.setl_id
WHERE s.is_reversal = 0 AND s.deleted = 0 AND s.medfee_fen IS NOT NULL
  AND ((l.fen IS NOT NULL AND ABS(l.fen - s.medfee_fen) > :tolerance_yuan * 100)
       OR (s.fund_pay_fen IS NOT NULL AND s.psn_part_fen IS NOT NULL
           AND ABS(s.fund_pay_fen + s.psn_part_fen - s.medfee_fen) > :tolerance_yuan * 100))
