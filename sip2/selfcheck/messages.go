package selfcheck

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/circa-ils/circa/circ"
	"github.com/circa-ils/circa/profiles"
)

// Screen and print texts are looked up by a message code. A text may hold
// placeholders in braces ({title}, {due}, {amount}, …) that are filled from
// the situation; an unknown placeholder is left as it is. The placeholders a
// code's situation fills are those of its built-in English text, and an
// override may use only those (CheckPlaceholders).
//
// The lookup order is: the profile's override in the chosen language, the
// built-in text in that language, the profile's English override, the
// built-in English text.

// DefaultLanguage is the ISO 639-2 code of the texts used when nothing else
// is known.
const DefaultLanguage = "eng"

// codeMessages names the screen message of every circ refusal code.
var codeMessages = map[circ.Code]string{
	circ.PatronUnknown:      "patron_unknown",
	circ.PatronAuthFailed:   "patron_auth_failed",
	circ.PatronBlocked:      "patron_blocked",
	circ.PatronExpired:      "patron_expired",
	circ.LoanLimit:          "loan_limit",
	circ.ItemUnknown:        "item_unknown",
	circ.ItemNotCirculating: "item_not_circulating",
	circ.ItemOnLoanToOther:  "item_on_loan_to_other",
	circ.ItemOnHoldForOther: "item_on_hold_for_other",
	circ.ItemNotOnLoan:      "item_not_on_loan",
	circ.ItemUnavailable:    "item_unavailable",
	circ.ItemHasLoan:        "item_has_loan",
	circ.FeeAckRequired:     "fee_ack_required",
	circ.RenewalLimit:       "renewal_limit",
	circ.RenewalOnHold:      "renewal_on_hold",
	circ.AlreadyOnLoan:      "already_on_loan",
	circ.HoldExists:         "hold_exists",
	circ.HoldNotFound:       "hold_not_found",
	circ.HoldNotAllowed:     "hold_not_allowed",
	circ.FeeUnknown:         "fee_unknown",
	circ.FeeOverpaid:        "fee_overpaid",
	circ.FeeNothingOwed:     "fee_nothing_owed",
	circ.CurrencyMismatch:   "currency_mismatch",
	circ.InvalidRequest:     "invalid_request",
	circ.DuplicateRequest:   "duplicate_request",
	circ.LocationUnknown:    "location_unknown",
	circ.PatronPINLocked:    "pin_locked",
	circ.Busy:               "busy",
	circ.AuthUnavailable:    "password_unverifiable",
}

// MessageForCode returns the message code that explains a circ refusal.
func MessageForCode(c circ.Code) string {
	if m, ok := codeMessages[c]; ok {
		return m
	}
	return "invalid_request"
}

// builtin holds the texts shipped with circa: language → code → text.
var builtin = map[string]map[string]string{
	"eng": {
		"login_required":         "This terminal is not logged in",
		"message_not_allowed":    "This service is not available at this terminal",
		"institution_mismatch":   "This terminal belongs to another institution",
		"pin_required":           "Please enter your PIN",
		"patron_unknown":         "Library card not recognised, please see staff",
		"patron_auth_failed":     "Wrong PIN, please try again",
		"pin_locked":             "Too many wrong PINs: your PIN is locked for now, please try later or see staff",
		"busy":                   "The system is busy, please try again in a moment",
		"password_unverifiable":  "Your password cannot be checked right now, please try again later or see staff",
		"patron_blocked":         "Your account is blocked, please see staff",
		"patron_blocked_note":    "Your account is blocked: {note}",
		"patron_blocked_balance": "Your account is blocked: you owe {amount}, the limit is {limit}",
		"patron_blocked_overdue": "Your account is blocked: {overdue} items overdue, the limit is {limit}",
		"patron_expired":         "Your library card has expired, please see staff",
		"patron_expired_on":      "Your library card expired on {date}, please see staff",
		"loan_limit":             "You have reached your loan limit",
		"loan_limit_count":       "You have {loans} items on loan, the limit is {limit}",
		"item_unknown":           "Item not recognised, please see staff",
		"item_not_circulating":   "This item cannot be borrowed",
		"item_on_loan_to_other":  "This item is on loan to someone else, please see staff",
		"item_on_hold_for_other": "This item is reserved for another patron",
		"item_not_on_loan":       "This item was not on loan",
		"item_unavailable":       "This item is not available, please see staff",
		"item_has_loan":          "This item is on loan",
		"fee_ack_required":       "This item has a rental fee of {amount}; please confirm to borrow it",
		"renewal_limit":          "This item cannot be renewed again",
		"renewal_on_hold":        "This item is requested by another patron and cannot be renewed",
		"already_on_loan":        "You already have this item on loan",
		"already_on_loan_due":    "You already have this item on loan, due {due}",
		"hold_exists":            "You already have a request for this title",
		"hold_not_found":         "No such request found",
		"hold_not_allowed":       "This request cannot be changed",
		"fee_unknown":            "Fee not found",
		"fee_overpaid":           "The payment is more than you owe",
		"fee_nothing_owed":       "You have nothing to pay",
		"currency_mismatch":      "This currency is not accepted",
		"invalid_request":        "The request could not be processed",
		"system_unavailable":     "System unavailable, please try again later or see staff",
		"duplicate_request":      "This request was already made",
		"location_unknown":       "Unknown pickup location",
		"patron_ok":              "Welcome",
		"fees_owed":              "You owe {amount}",
		"checkout_ok":            "Checked out: {title}, due {due}",
		"checkout_renewed":       "Renewed: {title}, now due {due}",
		"checkout_no_block":      "Offline checkout recorded: {title}, due {due}",
		"checkout_cancelled":     "Checkout cancelled",
		"cancel_not_possible":    "This transaction cannot be cancelled, please see staff",
		"rental_fee_charged":     "A rental fee of {amount} was charged",
		"checkin_ok":             "Returned: {title}",
		"checkin_hold_here":      "Returned. This item is reserved for another patron",
		"checkin_hold_elsewhere": "Returned. This item is reserved at {destination}",
		"checkin_transit":        "Returned. This item goes back to {destination}",
		"checkin_fine":           "An overdue fine of {amount} was charged",
		"checkin_held_blocked":   "This item is requested by another patron, please hand it to staff",
		"renew_ok":               "Renewed: {title}, now due {due}",
		"renew_all_done":         "{renewed} renewed, {unrenewed} not renewed",
		"fee_paid":               "Payment of {amount} accepted. Still owed: {remaining}",
		"fee_already_recorded":   "Payment already recorded, nothing charged. Still owed: {remaining}",
		"fee_amount_invalid":     "Invalid amount",
		"hold_placed":            "Request placed for {title}, number {position} in the queue",
		"hold_available":         "{title} is waiting for you at {pickup}",
		"hold_cancelled":         "Request cancelled",
		"hold_changed":           "Request changed",
		"hold_mode_invalid":      "Unknown request action",
		"item_required":          "Please scan the item",
		"item_properties_saved":  "Item properties saved",
		"end_session":            "Thank you, goodbye",
		"patron_enabled":         "Your account has been enabled",
		"nothing_to_enable":      "Your account has no block to lift",
		"patron_card_retained":   "Your card has been retained, please see staff",
		"patron_blocked_now":     "Your account has been blocked, please see staff",
		"due_receipt":            "{title} - due {due}",
		"return_receipt":         "Returned: {title}",
		"payment_receipt":        "Paid {amount}, still owed {remaining}",
	},
	"fre": {
		"login_required":         "Ce terminal n'est pas connecté",
		"message_not_allowed":    "Ce service n'est pas disponible sur ce terminal",
		"institution_mismatch":   "Ce terminal appartient à un autre établissement",
		"pin_required":           "Veuillez saisir votre code PIN",
		"patron_unknown":         "Carte de bibliothèque non reconnue, veuillez vous adresser au personnel",
		"patron_auth_failed":     "Code PIN incorrect, veuillez réessayer",
		"pin_locked":             "Trop de codes PIN erronés : votre code est bloqué pour le moment, réessayez plus tard ou adressez-vous au personnel",
		"busy":                   "Le système est occupé, veuillez réessayer dans un instant",
		"password_unverifiable":  "Votre mot de passe ne peut pas être vérifié pour le moment, veuillez réessayer plus tard ou vous adresser au personnel",
		"patron_blocked":         "Votre compte est bloqué, veuillez vous adresser au personnel",
		"patron_blocked_note":    "Votre compte est bloqué : {note}",
		"patron_blocked_balance": "Votre compte est bloqué : vous devez {amount}, la limite est de {limit}",
		"patron_blocked_overdue": "Votre compte est bloqué : {overdue} documents en retard, la limite est de {limit}",
		"patron_expired":         "Votre carte de bibliothèque a expiré, veuillez vous adresser au personnel",
		"patron_expired_on":      "Votre carte de bibliothèque a expiré le {date}, veuillez vous adresser au personnel",
		"loan_limit":             "Vous avez atteint le nombre maximal de prêts",
		"loan_limit_count":       "Vous avez {loans} documents en prêt, la limite est de {limit}",
		"item_unknown":           "Document non reconnu, veuillez vous adresser au personnel",
		"item_not_circulating":   "Ce document ne peut pas être emprunté",
		"item_on_loan_to_other":  "Ce document est prêté à quelqu'un d'autre, veuillez vous adresser au personnel",
		"item_on_hold_for_other": "Ce document est réservé pour un autre lecteur",
		"item_not_on_loan":       "Ce document n'était pas en prêt",
		"item_unavailable":       "Ce document n'est pas disponible, veuillez vous adresser au personnel",
		"item_has_loan":          "Ce document est en prêt",
		"fee_ack_required":       "Ce document est soumis à des frais de location de {amount} ; veuillez confirmer pour l'emprunter",
		"renewal_limit":          "Ce prêt ne peut plus être prolongé",
		"renewal_on_hold":        "Ce document est demandé par un autre lecteur et ne peut pas être prolongé",
		"already_on_loan":        "Vous avez déjà ce document en prêt",
		"already_on_loan_due":    "Vous avez déjà ce document en prêt, à rendre le {due}",
		"hold_exists":            "Vous avez déjà une réservation pour ce titre",
		"hold_not_found":         "Réservation introuvable",
		"hold_not_allowed":       "Cette réservation ne peut pas être modifiée",
		"fee_unknown":            "Frais introuvables",
		"fee_overpaid":           "Le paiement dépasse le montant dû",
		"fee_nothing_owed":       "Vous n'avez rien à payer",
		"currency_mismatch":      "Cette devise n'est pas acceptée",
		"invalid_request":        "La demande n'a pas pu être traitée",
		"system_unavailable":     "Système indisponible, veuillez réessayer plus tard ou vous adresser au personnel",
		"duplicate_request":      "Cette demande a déjà été faite",
		"location_unknown":       "Lieu de retrait inconnu",
		"patron_ok":              "Bienvenue",
		"fees_owed":              "Vous devez {amount}",
		"checkout_ok":            "Emprunté : {title}, à rendre le {due}",
		"checkout_renewed":       "Prolongé : {title}, à rendre le {due}",
		"checkout_no_block":      "Prêt hors ligne enregistré : {title}, à rendre le {due}",
		"checkout_cancelled":     "Prêt annulé",
		"cancel_not_possible":    "Cette opération ne peut pas être annulée, veuillez vous adresser au personnel",
		"rental_fee_charged":     "Des frais de location de {amount} ont été facturés",
		"checkin_ok":             "Retourné : {title}",
		"checkin_hold_here":      "Retourné. Ce document est réservé pour un autre lecteur",
		"checkin_hold_elsewhere": "Retourné. Ce document est réservé à {destination}",
		"checkin_transit":        "Retourné. Ce document retourne à {destination}",
		"checkin_fine":           "Une pénalité de retard de {amount} a été facturée",
		"checkin_held_blocked":   "Ce document est demandé par un autre lecteur, veuillez le remettre au personnel",
		"renew_ok":               "Prolongé : {title}, à rendre le {due}",
		"renew_all_done":         "{renewed} prolongé(s), {unrenewed} non prolongé(s)",
		"fee_paid":               "Paiement de {amount} accepté. Reste dû : {remaining}",
		"fee_already_recorded":   "Paiement déjà enregistré, rien n'a été débité. Reste dû : {remaining}",
		"fee_amount_invalid":     "Montant non valide",
		"hold_placed":            "Réservation enregistrée pour {title}, rang {position} dans la file",
		"hold_available":         "{title} vous attend à {pickup}",
		"hold_cancelled":         "Réservation annulée",
		"hold_changed":           "Réservation modifiée",
		"hold_mode_invalid":      "Action de réservation inconnue",
		"item_required":          "Veuillez scanner le document",
		"item_properties_saved":  "Propriétés du document enregistrées",
		"end_session":            "Merci, au revoir",
		"patron_enabled":         "Votre compte a été réactivé",
		"nothing_to_enable":      "Votre compte n'a aucun blocage à lever",
		"patron_card_retained":   "Votre carte a été retenue, veuillez vous adresser au personnel",
		"patron_blocked_now":     "Votre compte a été bloqué, veuillez vous adresser au personnel",
		"due_receipt":            "{title} - à rendre le {due}",
		"return_receipt":         "Retourné : {title}",
		"payment_receipt":        "Payé {amount}, reste dû {remaining}",
	},
	"ger": {
		"login_required":         "Dieses Terminal ist nicht angemeldet",
		"message_not_allowed":    "Dieser Dienst ist an diesem Terminal nicht verfügbar",
		"institution_mismatch":   "Dieses Terminal gehört zu einer anderen Einrichtung",
		"pin_required":           "Bitte geben Sie Ihre PIN ein",
		"patron_unknown":         "Bibliotheksausweis nicht erkannt, bitte wenden Sie sich an das Personal",
		"patron_auth_failed":     "Falsche PIN, bitte versuchen Sie es erneut",
		"pin_locked":             "Zu viele falsche PINs: Ihre PIN ist vorerst gesperrt, bitte später erneut versuchen oder an das Personal wenden",
		"busy":                   "Das System ist ausgelastet, bitte versuchen Sie es gleich noch einmal",
		"password_unverifiable":  "Ihr Passwort kann gerade nicht geprüft werden, bitte versuchen Sie es später noch einmal oder wenden Sie sich an das Personal",
		"patron_blocked":         "Ihr Konto ist gesperrt, bitte wenden Sie sich an das Personal",
		"patron_blocked_note":    "Ihr Konto ist gesperrt: {note}",
		"patron_blocked_balance": "Ihr Konto ist gesperrt: offen sind {amount}, die Grenze ist {limit}",
		"patron_blocked_overdue": "Ihr Konto ist gesperrt: {overdue} Medien überfällig, die Grenze ist {limit}",
		"patron_expired":         "Ihr Bibliotheksausweis ist abgelaufen, bitte wenden Sie sich an das Personal",
		"patron_expired_on":      "Ihr Bibliotheksausweis ist am {date} abgelaufen, bitte wenden Sie sich an das Personal",
		"loan_limit":             "Sie haben die Höchstzahl an Ausleihen erreicht",
		"loan_limit_count":       "Sie haben {loans} Medien ausgeliehen, die Höchstzahl ist {limit}",
		"item_unknown":           "Medium nicht erkannt, bitte wenden Sie sich an das Personal",
		"item_not_circulating":   "Dieses Medium kann nicht ausgeliehen werden",
		"item_on_loan_to_other":  "Dieses Medium ist an jemand anderen ausgeliehen, bitte wenden Sie sich an das Personal",
		"item_on_hold_for_other": "Dieses Medium ist für eine andere Person vorgemerkt",
		"item_not_on_loan":       "Dieses Medium war nicht ausgeliehen",
		"item_unavailable":       "Dieses Medium ist nicht verfügbar, bitte wenden Sie sich an das Personal",
		"item_has_loan":          "Dieses Medium ist ausgeliehen",
		"fee_ack_required":       "Für dieses Medium fällt eine Leihgebühr von {amount} an; bitte bestätigen Sie die Ausleihe",
		"renewal_limit":          "Dieses Medium kann nicht mehr verlängert werden",
		"renewal_on_hold":        "Dieses Medium ist vorgemerkt und kann nicht verlängert werden",
		"already_on_loan":        "Sie haben dieses Medium bereits ausgeliehen",
		"already_on_loan_due":    "Sie haben dieses Medium bereits ausgeliehen, fällig am {due}",
		"hold_exists":            "Sie haben diesen Titel bereits vorgemerkt",
		"hold_not_found":         "Vormerkung nicht gefunden",
		"hold_not_allowed":       "Diese Vormerkung kann nicht geändert werden",
		"fee_unknown":            "Gebühr nicht gefunden",
		"fee_overpaid":           "Die Zahlung ist höher als der offene Betrag",
		"fee_nothing_owed":       "Sie haben keine offenen Gebühren",
		"currency_mismatch":      "Diese Währung wird nicht angenommen",
		"invalid_request":        "Die Anfrage konnte nicht bearbeitet werden",
		"system_unavailable":     "System nicht verfügbar, bitte später erneut versuchen oder an das Personal wenden",
		"duplicate_request":      "Diese Anfrage wurde bereits gestellt",
		"location_unknown":       "Unbekannter Abholort",
		"patron_ok":              "Willkommen",
		"fees_owed":              "Offener Betrag: {amount}",
		"checkout_ok":            "Ausgeliehen: {title}, fällig am {due}",
		"checkout_renewed":       "Verlängert: {title}, jetzt fällig am {due}",
		"checkout_no_block":      "Offline-Ausleihe erfasst: {title}, fällig am {due}",
		"checkout_cancelled":     "Ausleihe storniert",
		"cancel_not_possible":    "Dieser Vorgang kann nicht storniert werden, bitte wenden Sie sich an das Personal",
		"rental_fee_charged":     "Eine Leihgebühr von {amount} wurde berechnet",
		"checkin_ok":             "Zurückgegeben: {title}",
		"checkin_hold_here":      "Zurückgegeben. Dieses Medium ist für eine andere Person vorgemerkt",
		"checkin_hold_elsewhere": "Zurückgegeben. Dieses Medium ist in {destination} vorgemerkt",
		"checkin_transit":        "Zurückgegeben. Dieses Medium geht zurück nach {destination}",
		"checkin_fine":           "Eine Säumnisgebühr von {amount} wurde berechnet",
		"checkin_held_blocked":   "Dieses Medium ist vorgemerkt, bitte geben Sie es beim Personal ab",
		"renew_ok":               "Verlängert: {title}, jetzt fällig am {due}",
		"renew_all_done":         "{renewed} verlängert, {unrenewed} nicht verlängert",
		"fee_paid":               "Zahlung von {amount} angenommen. Noch offen: {remaining}",
		"fee_already_recorded":   "Zahlung bereits erfasst, nichts berechnet. Noch offen: {remaining}",
		"fee_amount_invalid":     "Ungültiger Betrag",
		"hold_placed":            "Vormerkung für {title} erfasst, Platz {position} in der Warteschlange",
		"hold_available":         "{title} liegt für Sie in {pickup} bereit",
		"hold_cancelled":         "Vormerkung gelöscht",
		"hold_changed":           "Vormerkung geändert",
		"hold_mode_invalid":      "Unbekannte Vormerkungsaktion",
		"item_required":          "Bitte scannen Sie das Medium",
		"item_properties_saved":  "Medieneigenschaften gespeichert",
		"end_session":            "Vielen Dank, auf Wiedersehen",
		"patron_enabled":         "Ihr Konto wurde freigeschaltet",
		"nothing_to_enable":      "Ihr Konto hat keine Sperre, die aufgehoben werden kann",
		"patron_card_retained":   "Ihr Ausweis wurde einbehalten, bitte wenden Sie sich an das Personal",
		"patron_blocked_now":     "Ihr Konto wurde gesperrt, bitte wenden Sie sich an das Personal",
		"due_receipt":            "{title} - fällig am {due}",
		"return_receipt":         "Zurückgegeben: {title}",
		"payment_receipt":        "Bezahlt {amount}, noch offen {remaining}",
	},
	"spa": {
		"login_required":         "Este terminal no ha iniciado sesión",
		"message_not_allowed":    "Este servicio no está disponible en este terminal",
		"institution_mismatch":   "Este terminal pertenece a otra institución",
		"pin_required":           "Introduzca su PIN",
		"patron_unknown":         "Carné de biblioteca no reconocido, consulte al personal",
		"patron_auth_failed":     "PIN incorrecto, inténtelo de nuevo",
		"pin_locked":             "Demasiados PIN incorrectos: su PIN está bloqueado por ahora, inténtelo más tarde o consulte al personal",
		"busy":                   "El sistema está ocupado, inténtelo de nuevo en un momento",
		"password_unverifiable":  "Su contraseña no se puede comprobar ahora, inténtelo más tarde o consulte al personal",
		"patron_blocked":         "Su cuenta está bloqueada, consulte al personal",
		"patron_blocked_note":    "Su cuenta está bloqueada: {note}",
		"patron_blocked_balance": "Su cuenta está bloqueada: debe {amount}, el límite es {limit}",
		"patron_blocked_overdue": "Su cuenta está bloqueada: {overdue} ejemplares con retraso, el límite es {limit}",
		"patron_expired":         "Su carné de biblioteca ha caducado, consulte al personal",
		"patron_expired_on":      "Su carné de biblioteca caducó el {date}, consulte al personal",
		"loan_limit":             "Ha alcanzado el límite de préstamos",
		"loan_limit_count":       "Tiene {loans} ejemplares en préstamo, el límite es {limit}",
		"item_unknown":           "Ejemplar no reconocido, consulte al personal",
		"item_not_circulating":   "Este ejemplar no se puede prestar",
		"item_on_loan_to_other":  "Este ejemplar está prestado a otra persona, consulte al personal",
		"item_on_hold_for_other": "Este ejemplar está reservado para otro usuario",
		"item_not_on_loan":       "Este ejemplar no estaba prestado",
		"item_unavailable":       "Este ejemplar no está disponible, consulte al personal",
		"item_has_loan":          "Este ejemplar está prestado",
		"fee_ack_required":       "Este ejemplar tiene una tarifa de alquiler de {amount}; confirme para llevárselo",
		"renewal_limit":          "Este préstamo no se puede renovar más",
		"renewal_on_hold":        "Otro usuario ha reservado este ejemplar y no se puede renovar",
		"already_on_loan":        "Ya tiene este ejemplar en préstamo",
		"already_on_loan_due":    "Ya tiene este ejemplar en préstamo, vence el {due}",
		"hold_exists":            "Ya tiene una reserva de este título",
		"hold_not_found":         "No se encontró la reserva",
		"hold_not_allowed":       "Esta reserva no se puede modificar",
		"fee_unknown":            "Cargo no encontrado",
		"fee_overpaid":           "El pago supera el importe adeudado",
		"fee_nothing_owed":       "No tiene nada que pagar",
		"currency_mismatch":      "No se acepta esta moneda",
		"invalid_request":        "No se pudo procesar la solicitud",
		"system_unavailable":     "Sistema no disponible, inténtelo más tarde o consulte al personal",
		"duplicate_request":      "Esta solicitud ya se había hecho",
		"location_unknown":       "Lugar de recogida desconocido",
		"patron_ok":              "Bienvenido",
		"fees_owed":              "Debe {amount}",
		"checkout_ok":            "Prestado: {title}, devolver el {due}",
		"checkout_renewed":       "Renovado: {title}, devolver el {due}",
		"checkout_no_block":      "Préstamo sin conexión registrado: {title}, devolver el {due}",
		"checkout_cancelled":     "Préstamo anulado",
		"cancel_not_possible":    "Esta operación no se puede anular, consulte al personal",
		"rental_fee_charged":     "Se ha cobrado una tarifa de alquiler de {amount}",
		"checkin_ok":             "Devuelto: {title}",
		"checkin_hold_here":      "Devuelto. Este ejemplar está reservado para otro usuario",
		"checkin_hold_elsewhere": "Devuelto. Este ejemplar está reservado en {destination}",
		"checkin_transit":        "Devuelto. Este ejemplar vuelve a {destination}",
		"checkin_fine":           "Se ha cobrado una multa por retraso de {amount}",
		"checkin_held_blocked":   "Otro usuario ha reservado este ejemplar, entréguelo al personal",
		"renew_ok":               "Renovado: {title}, devolver el {due}",
		"renew_all_done":         "{renewed} renovados, {unrenewed} sin renovar",
		"fee_paid":               "Pago de {amount} aceptado. Pendiente: {remaining}",
		"fee_already_recorded":   "Pago ya registrado, no se ha cobrado nada. Pendiente: {remaining}",
		"fee_amount_invalid":     "Importe no válido",
		"hold_placed":            "Reserva registrada para {title}, puesto {position} en la cola",
		"hold_available":         "{title} le espera en {pickup}",
		"hold_cancelled":         "Reserva anulada",
		"hold_changed":           "Reserva modificada",
		"hold_mode_invalid":      "Acción de reserva desconocida",
		"item_required":          "Escanee el ejemplar",
		"item_properties_saved":  "Propiedades del ejemplar guardadas",
		"end_session":            "Gracias, hasta pronto",
		"patron_enabled":         "Su cuenta ha sido habilitada",
		"nothing_to_enable":      "Su cuenta no tiene ningún bloqueo que levantar",
		"patron_card_retained":   "Su carné ha sido retenido, consulte al personal",
		"patron_blocked_now":     "Su cuenta ha sido bloqueada, consulte al personal",
		"due_receipt":            "{title} - devolver el {due}",
		"return_receipt":         "Devuelto: {title}",
		"payment_receipt":        "Pagado {amount}, pendiente {remaining}",
	},
}

// sipLanguages maps the SIP2 language codes to ISO 639-2 (bibliographic)
// codes. Regional variants share their language's texts.
var sipLanguages = map[string]string{
	"001": "eng", "002": "fre", "003": "ger", "004": "ita", "005": "dut", "006": "swe",
	"007": "fin", "008": "spa", "009": "dan", "010": "por", "011": "fre", "012": "nor",
	"013": "heb", "014": "jpn", "015": "rus", "016": "ara", "017": "pol", "018": "gre",
	"019": "chi", "020": "kor", "021": "spa", "022": "tam", "023": "may", "024": "eng",
	"025": "ice", "027": "chi",
}

// isoToSIP is the first SIP2 code of each language, for responses.
var isoToSIP = func() map[string]string {
	m := map[string]string{}
	for sip, iso := range sipLanguages {
		if cur, ok := m[iso]; !ok || sip < cur {
			m[iso] = sip
		}
	}
	return m
}()

// terminology maps ISO 639-2/T codes to the bibliographic ones used here.
var terminology = map[string]string{
	"fra": "fre", "deu": "ger", "nld": "dut", "ces": "cze", "zho": "chi", "ell": "gre",
	"isl": "ice", "msa": "may", "fas": "per", "ron": "rum", "slk": "slo", "sqi": "alb",
}

// ISOLanguage returns the ISO 639-2 code of a SIP2 language code ("" for
// 000 and unknown codes).
func ISOLanguage(sip string) string { return sipLanguages[sip] }

// SIPLanguage returns the SIP2 language code of an ISO 639-2 code, "000"
// when SIP2 has none.
func SIPLanguage(iso string) string {
	if c, ok := isoToSIP[normLang(iso)]; ok {
		return c
	}
	return "000"
}

func normLang(l string) string {
	l = strings.ToLower(strings.TrimSpace(l))
	if b, ok := terminology[l]; ok {
		return b
	}
	return l
}

// MessageCodes lists every message code, sorted.
func MessageCodes() []string {
	out := make([]string, 0, len(builtin[DefaultLanguage]))
	for c := range builtin[DefaultLanguage] {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// BuiltinLanguages lists the languages circa ships texts for, sorted.
func BuiltinLanguages() []string {
	out := make([]string, 0, len(builtin))
	for l := range builtin {
		out = append(out, l)
	}
	sort.Strings(out)
	return out
}

// BuiltinMessage returns the text circa ships for a code in a language,
// falling back to English.
func BuiltinMessage(lang, code string) (string, bool) {
	if t, ok := builtin[normLang(lang)][code]; ok {
		return t, true
	}
	t, ok := builtin[DefaultLanguage][code]
	return t, ok
}

// Message returns the text for a code in a language as a profile sees it:
// its override first, then the built-in text, each falling back to English.
// A nil profile gives the built-in text.
func Message(p *profiles.SelfCheck, lang, code string) string {
	lang = normLang(lang)
	if lang == "" {
		lang = DefaultLanguage
	}
	if p != nil {
		if t, ok := p.Message(lang, code); ok {
			return t
		}
	}
	if t, ok := builtin[lang][code]; ok {
		return t
	}
	if p != nil {
		if t, ok := p.Message(DefaultLanguage, code); ok {
			return t
		}
	}
	if t, ok := builtin[DefaultLanguage][code]; ok {
		return t
	}
	return code
}

// expand fills {name} placeholders from pairs of name and value.
func expand(text string, args ...string) string {
	if len(args) == 0 || !strings.Contains(text, "{") {
		return text
	}
	var out strings.Builder
	out.Grow(len(text) + 16)
	for {
		open := strings.IndexByte(text, '{')
		if open < 0 {
			break
		}
		end := strings.IndexByte(text[open:], '}')
		if end < 0 {
			break
		}
		name, value, found := text[open+1:open+end], "", false
		for i := 0; i+1 < len(args); i += 2 {
			if args[i] == name {
				value, found = args[i+1], true
				break
			}
		}
		if !found { // not a placeholder of this text: keep it as written
			out.WriteString(text[:open+1])
			text = text[open+1:]
			continue
		}
		out.WriteString(text[:open])
		out.WriteString(value)
		text = text[open+end+1:]
	}
	out.WriteString(text)
	return out.String()
}

// NormalizeLanguage returns the ISO 639-2 bibliographic code profiles key
// their messages by: lower case, terminology codes (fra, deu, …) mapped.
func NormalizeLanguage(l string) string { return normLang(l) }

// placeholderPattern matches a {name} placeholder; braces around anything
// else are plain text.
var placeholderPattern = regexp.MustCompile(`\{([A-Za-z0-9_]+)\}`)

// Placeholders returns the placeholders a message code's text may hold,
// sorted: those its built-in English text uses, which are what the code's
// situation fills.
func Placeholders(code string) []string {
	var out []string
	for _, m := range placeholderPattern.FindAllStringSubmatch(builtin[DefaultLanguage][code], -1) {
		if !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	sort.Strings(out)
	return out
}

// CheckPlaceholders refuses a text for a code that holds a placeholder the
// code's situation does not fill: a kiosk would show it as written.
func CheckPlaceholders(code, text string) error {
	known := Placeholders(code)
	var unknown []string
	for _, m := range placeholderPattern.FindAllStringSubmatch(text, -1) {
		if !slices.Contains(known, m[1]) && !slices.Contains(unknown, m[1]) {
			unknown = append(unknown, m[1])
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	names := func(ns []string) string {
		if len(ns) == 0 {
			return "none"
		}
		return "{" + strings.Join(ns, "}, {") + "}"
	}
	return fmt.Errorf("message %s: unknown placeholder %s; this message knows %s", code, names(unknown), names(known))
}
