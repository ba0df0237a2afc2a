package bench

// ncipService is one NCIP service the generator sends, with the fixed
// reply the HTTP echo gives for it.
type ncipService struct {
	name string
	echo []byte
}

var ncipServices = []ncipService{
	{name: "LookupUser", echo: []byte(`<?xml version="1.0" encoding="UTF-8"?>
<ncip:NCIPMessage xmlns:ncip="http://www.niso.org/2008/ncip" ncip:version="http://www.niso.org/schemas/ncip/v2_02/ncip_v2_02.xsd"><ncip:LookupUserResponse><ncip:ResponseHeader><ncip:FromAgencyId><ncip:AgencyId>DEMO-LIBRARY</ncip:AgencyId></ncip:FromAgencyId><ncip:ToAgencyId><ncip:AgencyId>DEMO-BROKER</ncip:AgencyId></ncip:ToAgencyId></ncip:ResponseHeader><ncip:UserId><ncip:AgencyId>DEMO-LIBRARY</ncip:AgencyId><ncip:UserIdentifierValue>21000000001000</ncip:UserIdentifierValue></ncip:UserId><ncip:UserOptionalFields><ncip:NameInformation><ncip:PersonalNameInformation><ncip:StructuredPersonalUserName><ncip:GivenName>Pat</ncip:GivenName><ncip:Surname>Ron</ncip:Surname></ncip:StructuredPersonalUserName></ncip:PersonalNameInformation></ncip:NameInformation></ncip:UserOptionalFields></ncip:LookupUserResponse></ncip:NCIPMessage>
`)},
	{name: "CheckOutItem", echo: []byte(`<?xml version="1.0" encoding="UTF-8"?>
<ncip:NCIPMessage xmlns:ncip="http://www.niso.org/2008/ncip" ncip:version="http://www.niso.org/schemas/ncip/v2_02/ncip_v2_02.xsd"><ncip:CheckOutItemResponse><ncip:ResponseHeader><ncip:FromAgencyId><ncip:AgencyId>DEMO-LIBRARY</ncip:AgencyId></ncip:FromAgencyId><ncip:ToAgencyId><ncip:AgencyId>DEMO-BROKER</ncip:AgencyId></ncip:ToAgencyId></ncip:ResponseHeader><ncip:ItemId><ncip:AgencyId>DEMO-LIBRARY</ncip:AgencyId><ncip:ItemIdentifierValue>31000000001000</ncip:ItemIdentifierValue></ncip:ItemId><ncip:UserId><ncip:AgencyId>DEMO-LIBRARY</ncip:AgencyId><ncip:UserIdentifierValue>21000000001000</ncip:UserIdentifierValue></ncip:UserId><ncip:DateDue>2026-02-01T04:59:59Z</ncip:DateDue></ncip:CheckOutItemResponse></ncip:NCIPMessage>
`)},
	{name: "CheckInItem", echo: []byte(`<?xml version="1.0" encoding="UTF-8"?>
<ncip:NCIPMessage xmlns:ncip="http://www.niso.org/2008/ncip" ncip:version="http://www.niso.org/schemas/ncip/v2_02/ncip_v2_02.xsd"><ncip:CheckInItemResponse><ncip:ResponseHeader><ncip:FromAgencyId><ncip:AgencyId>DEMO-LIBRARY</ncip:AgencyId></ncip:FromAgencyId><ncip:ToAgencyId><ncip:AgencyId>DEMO-BROKER</ncip:AgencyId></ncip:ToAgencyId></ncip:ResponseHeader><ncip:ItemId><ncip:AgencyId>DEMO-LIBRARY</ncip:AgencyId><ncip:ItemIdentifierValue>31000000001000</ncip:ItemIdentifierValue></ncip:ItemId></ncip:CheckInItemResponse></ncip:NCIPMessage>
`)},
}
